//! State keys. The first byte names the table, so tables never collide and iterate in blocks.

use super::*;

/// Key of an account.
pub fn account(a: &AccountAddress) -> Vec<u8> {
    prefixed(0x01, &a.key().0)
}
/// Key of a device.
pub fn device(d: &DeviceAddress) -> Vec<u8> {
    prefixed(0x02, &d.key().0)
}
/// Key of a device's `seq`-th location assertion.
pub fn location_history(d: &DeviceAddress, seq: u32) -> Vec<u8> {
    let mut k = prefixed(0x03, &d.key().0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}
/// Key of a maker.
pub fn maker(m: &PublicKey) -> Vec<u8> {
    prefixed(0x04, &m.0)
}
/// Key of an epoch's manifest.
pub fn manifest(e: Epoch) -> Vec<u8> {
    prefixed(0x05, &e.0.to_be_bytes())
}
/// Key marking an owner's claim for an epoch.
pub fn claim(e: Epoch, owner: &AccountAddress) -> Vec<u8> {
    let mut k = prefixed(0x06, &e.0.to_be_bytes());
    k.extend_from_slice(&owner.key().0);
    k
}
/// Key of a device's `seq`-th slash.
pub fn slash(d: &DeviceAddress, seq: u32) -> Vec<u8> {
    let mut k = prefixed(0x07, &d.key().0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}
/// Key of the TRL burned during an epoch (fees, onboarding, credits, slashes): the reward
/// engine's net-emission input, readable by any auditor.
pub fn epoch_burn(e: Epoch) -> Vec<u8> {
    prefixed(0x08, &e.0.to_be_bytes())
}
/// Key marking slashing evidence as used.
pub fn slash_evidence(evidence: &Hash) -> Vec<u8> {
    prefixed(0x09, evidence.as_bytes())
}
/// Key of a storage deal.
pub fn deal(id: &Hash) -> Vec<u8> {
    prefixed(DEAL_TABLE, id.as_bytes())
}
/// Key of a device's published endpoint URL.
pub fn endpoint(d: &DeviceAddress) -> Vec<u8> {
    prefixed(0x0B, &d.key().0)
}
/// Key of the credits a device earned from deals in an epoch: the reward engine pays them
/// out in TRL, the way Helium pays data transfer.
pub fn storage_earned(e: Epoch, d: &DeviceAddress) -> Vec<u8> {
    let mut k = prefixed(STORAGE_EARNED_TABLE, &e.0.to_be_bytes());
    k.extend_from_slice(&d.key().0);
    k
}
/// Key of the credits an account has spent on sensor data (every `SpendCredits` with purpose
/// [`DATA_ACCESS`](super::DATA_ACCESS)), which data gateways meter queries against.
pub fn data_allowance(a: &AccountAddress) -> Vec<u8> {
    prefixed(DATA_ALLOWANCE_TABLE, &a.key().0)
}
/// Key of a storage provider's audit reputation.
pub fn reputation(d: &DeviceAddress) -> Vec<u8> {
    prefixed(0x0D, &d.key().0)
}
/// Key of a compute provider's standing offer.
pub fn offer(d: &DeviceAddress) -> Vec<u8> {
    prefixed(OFFER_TABLE, &d.key().0)
}
/// Key of a compute job.
pub fn job(id: &Hash) -> Vec<u8> {
    prefixed(JOB_TABLE, id.as_bytes())
}
/// Key of the credits a device earned from compute jobs in an epoch (runs and replays):
/// what consumers paid it, paid out in TRL first like storage earnings.
pub fn compute_earned(e: Epoch, d: &DeviceAddress) -> Vec<u8> {
    let mut k = prefixed(COMPUTE_EARNED_TABLE, &e.0.to_be_bytes());
    k.extend_from_slice(&d.key().0);
    k
}
/// Key of a device's compute work verified by replay in an epoch, weighted by the inverse
/// of the chance it was replayed (see [`super::compute_verified_in`]): the compute pool's
/// units.
pub fn compute_verified(e: Epoch, d: &DeviceAddress) -> Vec<u8> {
    let mut k = prefixed(COMPUTE_VERIFIED_TABLE, &e.0.to_be_bytes());
    k.extend_from_slice(&d.key().0);
    k
}
/// Key of the last TRL price posted during an epoch (see [`super::credit_price_in`]).
pub fn epoch_price(e: Epoch) -> Vec<u8> {
    prefixed(0x1D, &e.0.to_be_bytes())
}
/// Key marking a client's egress order serial as paid to a provider, grouped by the epoch
/// it expires in. The provider is part of it: a client reusing one serial with two
/// providers owes both.
pub fn egress_serial(expires: Epoch, client: &AccountAddress, provider: &DeviceAddress, serial: &[u8; 16]) -> Vec<u8> {
    let mut k = prefixed(EGRESS_SERIAL_TABLE, &expires.0.to_be_bytes());
    k.extend_from_slice(&client.key().0);
    k.extend_from_slice(&provider.key().0);
    k.extend_from_slice(serial);
    k
}
/// Key of what a storage provider served under egress orders claimed in an epoch.
pub fn egress_served(e: Epoch, d: &DeviceAddress) -> Vec<u8> {
    let mut k = prefixed(EGRESS_SERVED_TABLE, &e.0.to_be_bytes());
    k.extend_from_slice(&d.key().0);
    k
}
/// Key marking a deal id as used: a closed deal's id is never opened again, so closing and
/// reopening the same terms cannot skip paying for the epochs the data stays stored.
pub fn deal_closed(id: &Hash) -> Vec<u8> {
    prefixed(0x21, id.as_bytes())
}
/// Key of a client's open report on a piece (see [`super::PieceReport`]).
pub fn piece_report(deal: &Hash, index: u16) -> Vec<u8> {
    let mut k = prefixed(0x20, deal.as_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}
/// Key of the holder that proved a piece since taking it (see [`super::piece_proven_by`]).
pub fn piece_proven(deal: &Hash, index: u16) -> Vec<u8> {
    let mut k = prefixed(0x22, deal.as_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}
/// Key marking a piece whose holder failed the deal's latest settled epoch (cleared when it
/// passes again, and by a move or close): closing does not pay that holder the running epoch.
pub fn piece_failed(deal: &Hash, index: u16) -> Vec<u8> {
    let mut k = prefixed(0x23, deal.as_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}
/// Key of the slot holding block `height`'s hash (a ring of [`compute::RECENT_HASHES`]).
pub fn recent_hash(height: u64) -> Vec<u8> {
    prefixed(RECENT_HASH_TABLE, &(height % compute::RECENT_HASHES).to_be_bytes())
}
/// Key of the parameters.
pub const PARAMS: &[u8] = &[0x10];
/// Key of the admin committee.
pub const ADMINS: &[u8] = &[0x11];
/// Key of the oracle committee.
pub const ORACLES: &[u8] = &[0x12];
/// Key of the verifier keys.
pub const VERIFIERS: &[u8] = &[0x13];
/// Key of the latest price.
pub const PRICE: &[u8] = &[0x14];
/// Key of the supply accounting.
pub const SUPPLY: &[u8] = &[0x15];
/// Key of the chain id.
pub const CHAIN_ID: &[u8] = &[0x16];
/// Key of the reward parameters.
pub const REWARD_PARAMS: &[u8] = &[0x17];

/// Table byte of accounts, for scans.
pub const ACCOUNT_TABLE: u8 = 0x01;
/// Table byte of devices, for scans.
pub const DEVICE_TABLE: u8 = 0x02;
/// Table byte of manifests, for scans.
pub const MANIFEST_TABLE: u8 = 0x05;
/// Table byte of storage deals, for scans.
pub const DEAL_TABLE: u8 = 0x0A;
/// Table byte of per-epoch storage earnings, for scans.
pub const STORAGE_EARNED_TABLE: u8 = 0x0C;
/// Table byte of compute offers, for scans.
pub const OFFER_TABLE: u8 = 0x0E;
/// Table byte of compute jobs, for scans.
pub const JOB_TABLE: u8 = 0x0F;
/// Table byte of the ring of recent block hashes (written by every block).
pub const RECENT_HASH_TABLE: u8 = 0x1B;
/// Table byte of per-epoch compute earnings, for scans.
pub const COMPUTE_EARNED_TABLE: u8 = 0x1A;
/// Table byte of per-epoch replay-verified compute work, for scans.
pub const COMPUTE_VERIFIED_TABLE: u8 = 0x18;
/// Table byte of data allowances.
pub const DATA_ALLOWANCE_TABLE: u8 = 0x1C;
/// Table byte of per-epoch egress served, for scans.
pub const EGRESS_SERVED_TABLE: u8 = 0x1F;
/// Table byte of paid egress serials, keyed by the epoch their order expires in, for the
/// sweep at each epoch's first block.
pub const EGRESS_SERIAL_TABLE: u8 = 0x1E;

fn prefixed(table: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + rest.len());
    k.push(table);
    k.extend_from_slice(rest);
    k
}
