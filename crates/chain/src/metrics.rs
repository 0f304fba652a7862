//! Counters for `/metrics` (Prometheus text format).

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

/// Chain counters.
#[derive(Debug, Default)]
pub struct ChainMetrics {
    height: AtomicU64,
    finalized_tip: AtomicU64,
    blocks: AtomicU64,
    txs_committed: AtomicU64,
    txs_accepted: AtomicU64,
    mempool_len: AtomicU64,
    last_block_build_us: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    dropped: Mutex<BTreeMap<&'static str, u64>>,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, code: &'static str) {
    let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
    *m.entry(code).or_default() += 1;
}

impl ChainMetrics {
    pub(crate) fn set_height(&self, h: u64) {
        self.height.store(h, Ordering::Relaxed);
    }
    /// Records the height consensus has finalized (the committed height may trail it while a
    /// validator catches up).
    pub fn set_finalized_tip(&self, h: u64) {
        self.finalized_tip.fetch_max(h, Ordering::Relaxed);
    }
    pub(crate) fn set_mempool(&self, n: usize) {
        self.mempool_len.store(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn tx_accepted(&self) {
        self.txs_accepted.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn tx_refused(&self, code: &'static str) {
        bump(&self.refused, code);
    }
    pub(crate) fn tx_dropped(&self, code: &'static str) {
        bump(&self.dropped, code);
    }
    pub(crate) fn block_committed(&self, height: u64, txs: u64, took: Duration) {
        self.height.store(height, Ordering::Relaxed);
        self.blocks.fetch_add(1, Ordering::Relaxed);
        self.txs_committed.fetch_add(txs, Ordering::Relaxed);
        self.last_block_build_us
            .store(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Transactions committed since start.
    pub fn txs_committed(&self) -> u64 {
        self.txs_committed.load(Ordering::Relaxed)
    }

    /// Appends the Prometheus text exposition.
    pub fn render(&self, out: &mut String) {
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"));
        };
        gauge(
            out,
            "trellis_chain_height",
            "Height of the committed tip.",
            "gauge",
            self.height.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "trellis_finalized_height",
            "Highest height consensus reported finalized (0 under the single-node sequencer).",
            "gauge",
            self.finalized_tip.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "trellis_blocks_committed_total",
            "Blocks committed since start.",
            "counter",
            self.blocks.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "trellis_txs_committed_total",
            "Transactions committed since start.",
            "counter",
            self.txs_committed(),
        );
        gauge(
            out,
            "trellis_txs_accepted_total",
            "Transactions admitted to the mempool.",
            "counter",
            self.txs_accepted.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "trellis_mempool_txs",
            "Transactions waiting.",
            "gauge",
            self.mempool_len.load(Ordering::Relaxed),
        );
        gauge(
            out,
            "trellis_last_block_build_microseconds",
            "Time to build, execute and persist the last block.",
            "gauge",
            self.last_block_build_us.load(Ordering::Relaxed),
        );
        for (name, help, map) in [
            (
                "trellis_txs_refused_total",
                "Submissions refused by the mempool, by reason.",
                &self.refused,
            ),
            (
                "trellis_txs_dropped_total",
                "Mempool transactions dropped at block building, by reason.",
                &self.dropped,
            ),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n"));
            for (code, n) in map.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                out.push_str(&format!("{name}{{reason=\"{code}\"}} {n}\n"));
            }
        }
    }
}
