//! Admin multisig actions.

use super::*;

pub(super) fn govern<S: Store>(view: View<'_, '_, S>, ctx: &BlockContext, action: &GovAction) -> Result<(), TxFailure> {
    match action {
        GovAction::RegisterMaker { key, name } => {
            if name.trim().is_empty() {
                return Err(TxFailure::Invalid("maker name must not be empty".into()));
            }
            let devices_onboarded = view
                .read::<Maker>(&keys::maker(key))?
                .map_or(0, |m| m.devices_onboarded);
            let maker = Maker {
                name: name.clone(),
                active: true,
                registered_height: ctx.height,
                devices_onboarded,
            };
            write(view, keys::maker(key), &maker);
        }
        GovAction::RevokeMaker { key } => {
            let mut maker: Maker = view.read(&keys::maker(key))?.ok_or(TxFailure::MakerNotAuthorised)?;
            maker.active = false;
            write(view, keys::maker(key), &maker);
        }
        GovAction::SetParams { params } => {
            params.validate().map_err(|e| TxFailure::Invalid(e.0))?;
            // Epochs are `height / epoch_len_blocks`: a new length would renumber every past
            // height, sending epoch numbers back (burns land in epochs already settled) or ahead
            // (skipped epochs all become "complete" for manifests at once).
            if params.epoch_len_blocks != ctx.params.epoch_len_blocks {
                return Err(TxFailure::Invalid(
                    "epoch_len_blocks is fixed at genesis: changing it would renumber past epochs".into(),
                ));
            }
            write(view, keys::PARAMS.to_vec(), params);
        }
        GovAction::SetOracles { committee } => {
            committee.validate("oracles").map_err(TxFailure::Invalid)?;
            write(view, keys::ORACLES.to_vec(), committee);
        }
        GovAction::SetAdmins { committee } => {
            committee.validate("admins").map_err(TxFailure::Invalid)?;
            write(view, keys::ADMINS.to_vec(), committee);
        }
        GovAction::SetVerifiers { keys: verifier_keys } => {
            if verifier_keys.len() > MAX_COMMITTEE || !verifier_keys.windows(2).all(|w| w[0] < w[1]) {
                return Err(TxFailure::Invalid(
                    "verifier keys must be sorted, unique and at most 64".into(),
                ));
            }
            write(view, keys::VERIFIERS.to_vec(), &VerifierKeys(verifier_keys.clone()));
        }
        GovAction::SetRewardParams { params } => {
            params.validate().map_err(TxFailure::Invalid)?;
            write(view, keys::REWARD_PARAMS.to_vec(), params);
        }
    }
    Ok(())
}
