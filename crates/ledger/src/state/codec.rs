//! The canonical encoding of every state record.

use super::*;

impl Encode for Unbonding {
    fn encode(&self, out: &mut Vec<u8>) {
        self.device.encode(out);
        self.amount.encode(out);
        self.release_height.encode(out);
    }
}
impl Decode for Unbonding {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Unbonding {
            device: DeviceAddress::decode(r)?,
            amount: Amount::decode(r)?,
            release_height: r.u64()?,
        })
    }
}

impl Encode for Account {
    fn encode(&self, out: &mut Vec<u8>) {
        self.balance.encode(out);
        self.nonce.encode(out);
        self.credits.encode(out);
        put_list(out, &self.unbonding);
    }
}
impl Decode for Account {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Account {
            balance: Amount::decode(r)?,
            nonce: r.u64()?,
            credits: Credits::decode(r)?,
            unbonding: r.list("unbonding", MAX_UNBONDING_ENTRIES)?,
        })
    }
}

impl Encode for LocationRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        self.location.encode(out);
        put_option(out, &self.antenna);
        self.height.encode(out);
    }
}
impl Decode for LocationRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(LocationRecord {
            location: Location::decode(r)?,
            antenna: r.option()?,
            height: r.u64()?,
        })
    }
}

impl Encode for Device {
    fn encode(&self, out: &mut Vec<u8>) {
        self.owner.encode(out);
        self.maker.encode(out);
        self.class.encode(out);
        put_list(out, &self.capabilities);
        self.onboarded_height.encode(out);
        put_option(out, &self.location);
        self.location_count.encode(out);
        self.stake.encode(out);
        self.slashed.encode(out);
        self.slash_count.encode(out);
    }
}
impl Decode for Device {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Device {
            owner: AccountAddress::decode(r)?,
            maker: PublicKey::decode(r)?,
            class: DeviceClass::decode(r)?,
            capabilities: r.list("capabilities", MAX_CAPABILITIES)?,
            onboarded_height: r.u64()?,
            location: r.option()?,
            location_count: r.u32()?,
            stake: Amount::decode(r)?,
            slashed: Amount::decode(r)?,
            slash_count: r.u32()?,
        })
    }
}

impl Encode for Maker {
    fn encode(&self, out: &mut Vec<u8>) {
        put_bytes(out, self.name.as_bytes());
        self.active.encode(out);
        self.registered_height.encode(out);
        self.devices_onboarded.encode(out);
    }
}
impl Decode for Maker {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Maker {
            name: r.string("maker name", MAX_NAME_BYTES)?,
            active: r.bool()?,
            registered_height: r.u64()?,
            devices_onboarded: r.u64()?,
        })
    }
}

impl Encode for Manifest {
    fn encode(&self, out: &mut Vec<u8>) {
        self.root.encode(out);
        self.total.encode(out);
        self.owner_count.encode(out);
        self.claimed.encode(out);
        self.posted_height.encode(out);
    }
}
impl Decode for Manifest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Manifest {
            root: Hash::decode(r)?,
            total: Amount::decode(r)?,
            owner_count: r.u32()?,
            claimed: Amount::decode(r)?,
            posted_height: r.u64()?,
        })
    }
}

impl Encode for Deal {
    fn encode(&self, out: &mut Vec<u8>) {
        self.client.encode(out);
        self.terms.encode(out);
        self.start_epoch.encode(out);
        self.escrow.encode(out);
        self.paid.encode(out);
        self.settled_epochs.encode(out);
    }
}
impl Decode for Deal {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Deal {
            client: AccountAddress::decode(r)?,
            terms: DealTerms::decode(r)?,
            start_epoch: Epoch::decode(r)?,
            escrow: Credits::decode(r)?,
            paid: Credits::decode(r)?,
            settled_epochs: r.u32()?,
        })
    }
}

impl Encode for PriceEntry {
    fn encode(&self, out: &mut Vec<u8>) {
        self.micro_usd_per_trl.encode(out);
        self.height.encode(out);
    }
}
impl Decode for PriceEntry {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PriceEntry {
            micro_usd_per_trl: r.u64()?,
            height: r.u64()?,
        })
    }
}

impl Encode for SlashRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        self.amount.encode(out);
        self.verifier.encode(out);
        self.evidence.encode(out);
        put_bytes(out, self.reason.as_bytes());
        self.height.encode(out);
    }
}
impl Decode for SlashRecord {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SlashRecord {
            amount: Amount::decode(r)?,
            verifier: PublicKey::decode(r)?,
            evidence: Hash::decode(r)?,
            reason: r.string("slash reason", MAX_REASON_BYTES)?,
            height: r.u64()?,
        })
    }
}

impl Encode for Supply {
    fn encode(&self, out: &mut Vec<u8>) {
        self.issued.encode(out);
        self.burned.encode(out);
        self.credits_minted.encode(out);
        self.credits_spent.encode(out);
    }
}
impl Decode for Supply {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Supply {
            issued: Amount::decode(r)?,
            burned: Amount::decode(r)?,
            credits_minted: Credits::decode(r)?,
            credits_spent: Credits::decode(r)?,
        })
    }
}
