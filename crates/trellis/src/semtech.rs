//! A real LoRa gateway as the agent's [`Radio`]: the Semtech UDP packet-forwarder protocol
//! (version 2), which most LoRa gateways speak out of the box. Point the gateway's
//! `server_address` at the agent and `serv_port_up`/`serv_port_down` at `--semtech-listen`'s port.
//!
//! - `PUSH_DATA` (gateway → agent): received packets as `rxpk` JSON; answered with `PUSH_ACK`.
//!   Packets with a good CRC become frames (RSSI from `rssi`, SNR from `lsnr`).
//! - `PULL_DATA` (gateway → agent): the gateway's keepalive, telling where downlinks go;
//!   answered with `PULL_ACK`.
//! - `PULL_RESP` (agent → gateway): a beacon to send now, as `txpk`; the gateway's `TX_ACK`
//!   reports whether it went out.

use crate::air_hub::{Frame, Radio};
use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU16, Ordering},
        Mutex,
    },
};
use tokio::net::UdpSocket;

const VERSION: u8 = 2;
const PUSH_DATA: u8 = 0x00;
const PUSH_ACK: u8 = 0x01;
const PULL_DATA: u8 = 0x02;
const PULL_RESP: u8 = 0x03;
const PULL_ACK: u8 = 0x04;
const TX_ACK: u8 = 0x05;
/// Largest datagram a packet forwarder sends (its own buffer is 4 KiB for uplinks).
const MAX_DATAGRAM: usize = 65_507;
/// Data rate beacons are sent at (US915 SF9, as Helium's PoC beacons).
const BEACON_DATR: &str = "SF9BW125";

/// One received packet as the forwarder describes it (fields we do not use are ignored).
#[derive(Debug, Deserialize)]
struct RxPk {
    /// Centre frequency, MHz.
    freq: f64,
    /// CRC status: 1 ok, -1 bad, 0 none.
    #[serde(default)]
    stat: i8,
    /// Modulation, "LORA" or "FSK".
    modu: String,
    /// RSSI, dBm.
    rssi: f64,
    /// LoRa SNR, dB.
    #[serde(default)]
    lsnr: f64,
    /// Payload, base64.
    data: String,
}

#[derive(Debug, Deserialize)]
struct Push {
    #[serde(default)]
    rxpk: Vec<RxPk>,
}

/// A packet to transmit.
#[derive(Debug, Serialize)]
struct TxPk {
    imme: bool,
    freq: f64,
    rfch: u8,
    powe: i64,
    modu: &'static str,
    datr: &'static str,
    codr: &'static str,
    ipol: bool,
    size: usize,
    data: String,
}

#[derive(Debug, Serialize)]
struct Pull {
    txpk: TxPk,
}

/// The agent's end of a Semtech packet forwarder link.
pub(crate) struct SemtechRadio {
    socket: UdpSocket,
    /// Where downlinks go: the source of the last `PULL_DATA`.
    gateway: Mutex<Option<SocketAddr>>,
    received: Mutex<VecDeque<Frame>>,
    token: AtomicU16,
}

impl SemtechRadio {
    /// Listens for a packet forwarder on `listen`.
    pub(crate) async fn listen(listen: SocketAddr) -> Result<Self> {
        let socket = UdpSocket::bind(listen)
            .await
            .with_context(|| format!("cannot listen for a packet forwarder on {listen}"))?;
        Ok(SemtechRadio {
            socket,
            gateway: Mutex::new(None),
            received: Mutex::new(VecDeque::new()),
            token: AtomicU16::new(1),
        })
    }

    /// Where it listens.
    pub(crate) fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    /// Handles one datagram from a forwarder: answers it and queues any frames it carries.
    async fn handle(&self, datagram: &[u8], from: SocketAddr) -> Result<()> {
        let [version, token_hi, token_lo, kind, rest @ ..] = datagram else {
            bail!("datagram of {} bytes is too short", datagram.len());
        };
        if *version != VERSION {
            bail!("protocol version {version}, expected {VERSION}");
        }
        let token = [*token_hi, *token_lo];
        match *kind {
            PUSH_DATA => {
                let json = rest.get(8..).context("PUSH_DATA without a gateway id")?;
                self.socket
                    .send_to(&[VERSION, token[0], token[1], PUSH_ACK], from)
                    .await?;
                let push: Push = serde_json::from_slice(json).context("PUSH_DATA JSON")?;
                let mut queue = self.received.lock().unwrap_or_else(|p| p.into_inner());
                for rx in push.rxpk {
                    if rx.stat != 1 || rx.modu != "LORA" {
                        continue;
                    }
                    let Ok(payload) = base64::engine::general_purpose::STANDARD.decode(&rx.data) else {
                        continue;
                    };
                    if !(rx.freq.is_finite() && rx.rssi.is_finite() && rx.lsnr.is_finite()) {
                        continue;
                    }
                    queue.push_back(Frame {
                        from: None,
                        payload,
                        frequency_hz: (rx.freq * 1e6).round() as u64,
                        power_centi_dbm: (rx.rssi * 100.0).round() as i64,
                        snr_centi_db: (rx.lsnr * 100.0).round() as i64,
                    });
                }
            }
            PULL_DATA => {
                *self.gateway.lock().unwrap_or_else(|p| p.into_inner()) = Some(from);
                self.socket
                    .send_to(&[VERSION, token[0], token[1], PULL_ACK], from)
                    .await?;
            }
            TX_ACK => {
                let json = rest.get(8..).unwrap_or_default();
                let text = String::from_utf8_lossy(json);
                if text.contains("\"error\"") && !text.contains("\"NONE\"") {
                    tracing::warn!(ack = %text, "gateway did not transmit a beacon");
                }
            }
            other => bail!("unexpected packet type {other:#04x}"),
        }
        Ok(())
    }

    fn next_queued(&self) -> Option<Frame> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
    }
}

impl Radio for SemtechRadio {
    async fn transmit(&self, frame: &Frame) -> Result<()> {
        let Some(gateway) = *self.gateway.lock().unwrap_or_else(|p| p.into_inner()) else {
            bail!("no packet forwarder has connected yet (no PULL_DATA received)");
        };
        let pull = Pull {
            txpk: TxPk {
                imme: true,
                freq: frame.frequency_hz as f64 / 1e6,
                rfch: 0,
                powe: frame.power_centi_dbm / 100,
                modu: "LORA",
                datr: BEACON_DATR,
                codr: "4/5",
                ipol: false,
                size: frame.payload.len(),
                data: base64::engine::general_purpose::STANDARD.encode(&frame.payload),
            },
        };
        let token = self.token.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        let mut datagram = vec![VERSION, token[0], token[1], PULL_RESP];
        datagram.extend_from_slice(&serde_json::to_vec(&pull)?);
        self.socket.send_to(&datagram, gateway).await?;
        Ok(())
    }

    async fn receive(&self) -> Result<Frame> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            if let Some(frame) = self.next_queued() {
                return Ok(frame);
            }
            let (len, from) = self.socket.recv_from(&mut buf).await?;
            if let Err(e) = self.handle(&buf[..len], from).await {
                tracing::debug!(%from, error = %format!("{e:#}"), "ignored a packet-forwarder datagram");
            }
        }
    }

    async fn keepalive(&self) -> Result<()> {
        // The forwarder keeps the link alive with PULL_DATA; nothing to send.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const EUI: [u8; 8] = [0xAA, 0x55, 0, 0, 0, 0, 0, 1];

    async fn recv(socket: &UdpSocket) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        buf.truncate(len);
        buf
    }

    #[tokio::test]
    async fn speaks_the_packet_forwarder_protocol_both_ways() {
        let radio = SemtechRadio::listen("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let agent = radio.local_addr().unwrap();
        let gateway = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let frame = Frame {
            from: None,
            payload: b"beacon".to_vec(),
            frequency_hz: 904_300_000,
            power_centi_dbm: 2_700,
            snr_centi_db: 0,
        };
        // Before the gateway says where it is, there is nowhere to send.
        assert!(radio.transmit(&frame).await.is_err());

        // Garbage, a wrong version, then a keepalive and an uplink with one good and one bad
        // packet: one frame comes out, and both datagrams are acknowledged.
        gateway.send_to(b"\x01", agent).await.unwrap();
        gateway.send_to(&[1, 0, 0, PULL_DATA], agent).await.unwrap();
        let mut pull = vec![VERSION, 0x12, 0x34, PULL_DATA];
        pull.extend_from_slice(&EUI);
        gateway.send_to(&pull, agent).await.unwrap();
        let rxpk = serde_json::json!({"rxpk": [
            {"tmst": 1, "freq": 904.3, "chan": 0, "rfch": 0, "stat": 1, "modu": "LORA",
             "datr": "SF9BW125", "codr": "4/5", "rssi": -97, "lsnr": 5.5, "size": 6,
             "data": base64::engine::general_purpose::STANDARD.encode(b"heard!")},
            {"freq": 904.3, "stat": -1, "modu": "LORA", "rssi": -120, "lsnr": -9.0, "data": "AAAA"}
        ]});
        let mut push = vec![VERSION, 0x56, 0x78, PUSH_DATA];
        push.extend_from_slice(&EUI);
        push.extend_from_slice(&serde_json::to_vec(&rxpk).unwrap());
        gateway.send_to(&push, agent).await.unwrap();

        let heard = tokio::time::timeout(Duration::from_secs(5), radio.receive())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(heard.payload, b"heard!");
        assert_eq!(heard.frequency_hz, 904_300_000);
        assert_eq!(heard.power_centi_dbm, -9_700);
        assert_eq!(heard.snr_centi_db, 550);
        assert_eq!(recv(&gateway).await, vec![VERSION, 0x12, 0x34, PULL_ACK]);
        assert_eq!(recv(&gateway).await, vec![VERSION, 0x56, 0x78, PUSH_ACK]);
        assert!(radio.next_queued().is_none(), "the bad-CRC packet is dropped");

        // A beacon goes out as PULL_RESP with a txpk the gateway can send as is.
        radio.transmit(&frame).await.unwrap();
        let resp = recv(&gateway).await;
        assert_eq!((resp[0], resp[3]), (VERSION, PULL_RESP));
        let json: serde_json::Value = serde_json::from_slice(&resp[4..]).unwrap();
        let tx = &json["txpk"];
        assert_eq!(tx["imme"], true);
        assert_eq!(tx["freq"].as_f64().unwrap(), 904.3);
        assert_eq!(tx["powe"], 27);
        assert_eq!(tx["size"], 6);
        let data = base64::engine::general_purpose::STANDARD
            .decode(tx["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, b"beacon");
    }
}
