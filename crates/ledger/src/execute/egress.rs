//! Egress claims: a storage provider is paid for the bytes it served under its clients' signed
//! orders (see [`crate::tx::EgressOrder`]).
//!
//! Credit accounting: each claim moves `ceil(bytes × price / GiB)` from the client's credits into
//! the provider's `storage_earned` for the current epoch and counts them as spent, like a deal
//! settlement; the reward engine pays earned credits in TRL. Serials are remembered per client
//! and provider until their order expires, so an order is paid once.

use super::*;
use crate::state::EgressServed;
use crate::tx::EgressClaim;

pub(super) fn claim_egress<S: Store>(
    view: View<'_, '_, S>,
    ctx: &BlockContext,
    signer: &AccountAddress,
    device: &DeviceAddress,
    claims: &[EgressClaim],
) -> Result<(), TxFailure> {
    let dev = super::compute::acting_for(view, signer, device)?;
    if dev.class != DeviceClass::Storage {
        return Err(TxFailure::NotStorageProvider {
            device: *device,
            why: format!("it is a {} device", dev.class.name()),
        });
    }
    if claims.is_empty() {
        return Err(TxFailure::Invalid("an egress claim needs at least one order".into()));
    }
    let mut served = EgressServed::default();
    for claim in claims {
        let order = &claim.order.order;
        let bad = |why: String| TxFailure::BadEgressOrder {
            serial: hex::encode(order.serial),
            why,
        };
        if &order.provider != device {
            return Err(bad(format!("it is for provider {}", order.provider)));
        }
        if !claim.order.signed_by_client() {
            return Err(bad("only the paying client's signature makes an order payable".into()));
        }
        if !claim.order.verify(&ctx.chain_id) {
            return Err(bad("the client's signature does not verify".into()));
        }
        if claim.bytes == 0 || claim.bytes > order.bytes {
            return Err(bad(format!(
                "claims {} bytes; the order allows 1 to {}",
                claim.bytes, order.bytes
            )));
        }
        order
            .payable_in(ctx.epoch)
            .map_err(|e| bad(format!("{e} (it expires after epoch {})", order.expires.0)))?;
        let key = keys::egress_serial(order.expires, &order.client, &order.provider, &order.serial);
        if view.raw(&key).is_some() {
            return Err(TxFailure::EgressOrderUsed(hex::encode(order.serial)));
        }
        view.put(key, Vec::new());
        let cost = order.cost(claim.bytes).ok_or(TxFailure::Overflow)?;
        if cost.0 > 0 {
            super::credits::spend_credits(view, &order.client, cost)?;
        }
        served.bytes = served.bytes.checked_add(claim.bytes).ok_or(TxFailure::Overflow)?;
        served.credits = served.credits.checked_add(cost).ok_or(TxFailure::Overflow)?;
    }
    super::credits::add_earned(view, keys::storage_earned(ctx.epoch, device), served.credits)?;
    let served_key = keys::egress_served(ctx.epoch, device);
    let before: EgressServed = view.read(&served_key)?.unwrap_or_default();
    let total = EgressServed {
        bytes: before.bytes.checked_add(served.bytes).ok_or(TxFailure::Overflow)?,
        credits: before.credits.checked_add(served.credits).ok_or(TxFailure::Overflow)?,
    };
    write(view, served_key, &total);
    Ok(())
}
