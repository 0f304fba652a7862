//! The simulated air as a service: `trellis air` relays LoRa frames between hotspot agents over
//! UDP on loopback, delivering each frame to every radio that would hear it with the RSSI the
//! radio model gives for the two radios' real positions.
//!
//! Agents talk to it through [`SimulatedRadio`], one implementation of the agent's [`Radio`]
//! trait. A real gateway would implement the same trait over its concentrator (see
//! ARCHITECTURE.md, "Hotspot agent").
//!
//! Messages are small JSON datagrams ([`AirMessage`]). Radios announce their real position with
//! `hello` every few seconds; the hub forgets radios silent for longer than [`RADIO_TTL`].

use anyhow::{bail, Context as _, Result};
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    time::{Duration, Instant},
};
use tokio::net::UdpSocket;
use trellis_coverage::physics::distance_m;
use trellis_primitives::{DeviceAddress, Location};
use trellis_sim::air::{AirMessage, AirModel, MAX_DATAGRAM};

/// A radio that has not said hello for this long is forgotten.
pub(crate) const RADIO_TTL: Duration = Duration::from_secs(30);

struct Registered {
    addr: SocketAddr,
    cell: h3o::CellIndex,
    gain_centi_dbi: i64,
    seen: Instant,
}

/// The hub: a socket, the radio model, and the radios it knows.
pub(crate) struct AirHub {
    socket: UdpSocket,
    model: AirModel,
    radios: BTreeMap<DeviceAddress, Registered>,
    /// Frames relayed so far (for logs and tests).
    pub(crate) relayed: u64,
}

impl AirHub {
    /// Binds the hub.
    pub(crate) async fn bind(listen: SocketAddr, model: AirModel) -> Result<Self> {
        let socket = UdpSocket::bind(listen)
            .await
            .with_context(|| format!("cannot bind the air hub to {listen}"))?;
        Ok(AirHub {
            socket,
            model,
            radios: BTreeMap::new(),
            relayed: 0,
        })
    }

    /// Where the hub listens.
    pub(crate) fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    /// Serves until the future `stop` completes.
    pub(crate) async fn serve(mut self, stop: impl std::future::Future<Output = ()>) -> Result<()> {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        tokio::pin!(stop);
        loop {
            let (len, from) = tokio::select! {
                _ = &mut stop => return Ok(()),
                received = self.socket.recv_from(&mut buf) => received?,
            };
            match AirMessage::decode(&buf[..len]) {
                Ok(message) => {
                    if let Err(e) = self.handle(message, from).await {
                        tracing::debug!(%from, error = %format!("{e:#}"), "air message not relayed");
                    }
                }
                Err(e) => tracing::debug!(%from, error = %format!("{e:#}"), "bad air datagram"),
            }
        }
    }

    async fn handle(&mut self, message: AirMessage, from: SocketAddr) -> Result<()> {
        match message {
            AirMessage::Hello {
                device,
                lat,
                lng,
                gain_centi_dbi,
            } => {
                let location = Location::from_degrees(lat, lng).context("hello with an invalid position")?;
                self.radios.insert(
                    device,
                    Registered {
                        addr: from,
                        cell: location.cell(),
                        gain_centi_dbi,
                        seen: Instant::now(),
                    },
                );
            }
            AirMessage::Transmit {
                device,
                seq,
                payload_hex,
                frequency_hz,
                tx_power_centi_dbm,
            } => {
                let now = Instant::now();
                self.radios.retain(|_, r| now.duration_since(r.seen) < RADIO_TTL);
                let Some(sender) = self.radios.get(&device) else {
                    bail!("transmit from {device}, which has not said hello");
                };
                if sender.addr != from {
                    bail!("transmit for {device} from {from}, not its registered address");
                }
                let (cell, gain) = (sender.cell, sender.gain_centi_dbi);
                let mut deliveries = Vec::new();
                for (to, radio) in &self.radios {
                    if *to == device {
                        continue;
                    }
                    let Some(distance) = distance_m(cell, radio.cell) else {
                        continue;
                    };
                    let gains_dbi = (gain + radio.gain_centi_dbi) as f64 / 100.0;
                    let Some(rssi) = self.model.rssi_dbm(
                        &device,
                        to,
                        seq,
                        tx_power_centi_dbm as f64 / 100.0,
                        gains_dbi,
                        distance as f64,
                        frequency_hz,
                    ) else {
                        continue;
                    };
                    let receive = AirMessage::Receive {
                        from: device,
                        payload_hex: payload_hex.clone(),
                        frequency_hz,
                        rssi_centi_dbm: (rssi * 100.0).round() as i64,
                        // LoRa demodulates down to ~-20 dB SNR; report the margin above a
                        // -120 dBm noise floor, capped at a typical +10 dB.
                        snr_centi_db: ((rssi + 120.0) * 100.0).round().clamp(-2_000.0, 1_000.0) as i64,
                    };
                    deliveries.push((radio.addr, receive.encode()));
                }
                for (addr, bytes) in deliveries {
                    self.socket.send_to(&bytes, addr).await?;
                    self.relayed += 1;
                }
            }
            AirMessage::Receive { .. } => bail!("radios do not send receive messages"),
        }
        Ok(())
    }
}

/// A frame as a radio sends or hears it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frame {
    /// Sender (for received frames).
    pub(crate) from: Option<DeviceAddress>,
    /// Payload.
    pub(crate) payload: Vec<u8>,
    /// Channel.
    pub(crate) frequency_hz: u64,
    /// Received power (centi-dBm) for received frames; transmit power for sent ones.
    pub(crate) power_centi_dbm: i64,
    /// Signal-to-noise ratio of received frames (centi-dB).
    pub(crate) snr_centi_db: i64,
}

/// What a hotspot agent needs from its radio. Methods take `&self` so the agent can transmit
/// while it waits to receive.
pub(crate) trait Radio {
    /// Transmits a frame.
    fn transmit(&self, frame: &Frame) -> impl std::future::Future<Output = Result<()>> + Send;
    /// Waits for the next frame heard.
    fn receive(&self) -> impl std::future::Future<Output = Result<Frame>> + Send;
    /// Called every few seconds (the simulated radio re-announces itself).
    fn keepalive(&self) -> impl std::future::Future<Output = Result<()>> + Send;
}

/// A radio in the simulated air, at a real position.
pub(crate) struct SimulatedRadio {
    socket: UdpSocket,
    hub: SocketAddr,
    device: DeviceAddress,
    hello: Vec<u8>,
    seq: std::sync::atomic::AtomicU64,
}

impl SimulatedRadio {
    /// Joins the air at `hub`, really located at (`lat`, `lng`) with antenna gain
    /// `gain_centi_dbi`.
    pub(crate) async fn join(
        hub: SocketAddr,
        device: DeviceAddress,
        (lat, lng): (f64, f64),
        gain_centi_dbi: i64,
    ) -> Result<Self> {
        Location::from_degrees(lat, lng).context("invalid radio position")?;
        let socket = UdpSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let hello = AirMessage::Hello {
            device,
            lat,
            lng,
            gain_centi_dbi,
        }
        .encode();
        let radio = SimulatedRadio {
            socket,
            hub,
            device,
            hello,
            seq: std::sync::atomic::AtomicU64::new(0),
        };
        radio.keepalive().await?;
        Ok(radio)
    }
}

impl Radio for SimulatedRadio {
    async fn transmit(&self, frame: &Frame) -> Result<()> {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let message = AirMessage::Transmit {
            device: self.device,
            seq,
            payload_hex: hex::encode(&frame.payload),
            frequency_hz: frame.frequency_hz,
            tx_power_centi_dbm: frame.power_centi_dbm,
        };
        self.socket.send_to(&message.encode(), self.hub).await?;
        Ok(())
    }

    async fn receive(&self) -> Result<Frame> {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            let (len, from) = self.socket.recv_from(&mut buf).await?;
            if from != self.hub {
                continue;
            }
            match AirMessage::decode(&buf[..len]) {
                Ok(AirMessage::Receive {
                    from,
                    payload_hex,
                    frequency_hz,
                    rssi_centi_dbm,
                    snr_centi_db,
                }) => {
                    let Ok(payload) = hex::decode(&payload_hex) else {
                        continue;
                    };
                    return Ok(Frame {
                        from: Some(from),
                        payload,
                        frequency_hz,
                        power_centi_dbm: rssi_centi_dbm,
                        snr_centi_db,
                    });
                }
                Ok(_) | Err(_) => continue,
            }
        }
    }

    async fn keepalive(&self) -> Result<()> {
        self.socket.send_to(&self.hello, self.hub).await?;
        Ok(())
    }
}

/// Arguments of `trellis air`.
#[derive(Debug, clap::Args)]
pub(crate) struct AirArgs {
    /// UDP address to listen on (port 0 picks one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8647")]
    listen: SocketAddr,
    /// Path-loss exponent beyond 1 m (2 = free space; 2.7-3.5 suburban).
    #[arg(long, default_value_t = 2.8)]
    exponent: f64,
    /// Shadowing standard deviation, dB.
    #[arg(long, default_value_t = 6.0)]
    shadowing_db: f64,
    /// Weakest signal a radio decodes, dBm.
    #[arg(long, default_value_t = -130.0, allow_hyphen_values = true)]
    sensitivity_dbm: f64,
}

/// Runs `trellis air` until Ctrl-C.
pub(crate) async fn run(args: AirArgs) -> Result<()> {
    if !(2.0..=6.0).contains(&args.exponent) {
        bail!("--exponent must be in 2..=6, found {}", args.exponent);
    }
    if !(0.0..=20.0).contains(&args.shadowing_db) {
        bail!("--shadowing-db must be in 0..=20, found {}", args.shadowing_db);
    }
    let model = AirModel {
        exponent: args.exponent,
        shadowing_sigma_db: args.shadowing_db,
        sensitivity_dbm: args.sensitivity_dbm,
    };
    let hub = AirHub::bind(args.listen, model).await?;
    println!("air listening on {}", hub.local_addr()?);
    hub.serve(crate::run::shutdown_signal()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_primitives::Keypair;
    use trellis_sim::air::MAX_PAYLOAD;

    fn device(i: u8) -> DeviceAddress {
        DeviceAddress::from(Keypair::from_seed([i; 32]).public())
    }

    fn frame(payload: &[u8]) -> Frame {
        Frame {
            from: None,
            payload: payload.to_vec(),
            frequency_hz: 904_300_000,
            power_centi_dbm: 2_700,
            snr_centi_db: 0,
        }
    }

    #[test]
    fn decoding_refuses_oversized_and_malformed_datagrams() {
        assert!(AirMessage::decode(&vec![b' '; MAX_DATAGRAM + 1]).is_err());
        assert!(AirMessage::decode(b"{\"type\":\"hello\"}").is_err());
        assert!(AirMessage::decode(b"not json").is_err());
        let long = AirMessage::Transmit {
            device: device(1),
            seq: 1,
            payload_hex: "ab".repeat(MAX_PAYLOAD + 1),
            frequency_hz: 1,
            tx_power_centi_dbm: 0,
        };
        assert!(AirMessage::decode(&long.encode()).is_err());
        let hello = AirMessage::Hello {
            device: device(1),
            lat: 37.7,
            lng: -122.4,
            gain_centi_dbi: 300,
        };
        assert_eq!(AirMessage::decode(&hello.encode()).unwrap(), hello);
    }

    #[tokio::test]
    async fn frames_reach_radios_in_range_with_a_plausible_rssi_and_no_one_else() {
        let model = AirModel {
            shadowing_sigma_db: 0.0,
            ..AirModel::default()
        };
        let hub = AirHub::bind("127.0.0.1:0".parse().unwrap(), model).await.unwrap();
        let addr = hub.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(hub.serve(async move {
            let _dropped_means_stop = stopped.await;
        }));
        let a = SimulatedRadio::join(addr, device(1), (37.70, -122.45), 300)
            .await
            .unwrap();
        let near = SimulatedRadio::join(addr, device(2), (37.71, -122.45), 300)
            .await
            .unwrap();
        let far = SimulatedRadio::join(addr, device(3), (39.70, -122.45), 300)
            .await
            .unwrap();
        // Garbage to the hub is ignored, not fatal.
        let junk = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        junk.send_to(b"\xff\x00junk", addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        a.transmit(&frame(b"beacon-1")).await.unwrap();
        let heard = tokio::time::timeout(Duration::from_secs(5), near.receive())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(heard.from, Some(device(1)));
        assert_eq!(heard.payload, b"beacon-1");
        // ~1.1 km at 904 MHz with 27 dBm and 2 × 3 dBi, exponent 2.8: about -80 dBm, and never
        // above what free space would allow (about -60 dBm).
        assert!((-9_500..=-6_000).contains(&heard.power_centi_dbm), "{heard:?}");
        // 222 km away: below sensitivity, nothing arrives.
        assert!(tokio::time::timeout(Duration::from_millis(300), far.receive())
            .await
            .is_err());
        drop(stop);
        served.await.unwrap().unwrap();
    }
}
