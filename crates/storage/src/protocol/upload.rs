//! The grant a direct upload carries: piece `index` of open deal `deal`, to `provider`, until
//! epoch `expires`, signed by the deal's client or a verifier (a repairer). Without it anyone
//! could open uploads of a provider's assigned pieces and trickle bytes into its upload slots;
//! with it only those who pay for the piece (or repair it) can, and a grant seen on the wire is
//! no use at another provider, for another piece, or after a few epochs.

use trellis_primitives::{
    codec::{Decode, DecodeError, Encode, Reader},
    DeviceAddress, Epoch, Hash, HashDomain, Keypair, PublicKey, Signature,
};

/// The upload request header carrying a [`SignedUploadGrant`], in hex.
pub const UPLOAD_HEADER: &str = "trellis-upload";
/// Epochs after the current one a client's grant stays usable: it is checked when the upload
/// starts, which is right after it is signed.
pub const UPLOAD_GRANT_EPOCHS: u64 = 2;
/// Longest upload header accepted (an encoded grant is 170 bytes, twice that in hex).
pub const MAX_UPLOAD_HEADER_BYTES: usize = 512;

/// Leave to upload one piece of an open deal to one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadGrant {
    /// The deal.
    pub deal: Hash,
    /// The piece.
    pub index: u16,
    /// The provider it goes to.
    pub provider: DeviceAddress,
    /// The last epoch it may start in.
    pub expires: Epoch,
}

impl UploadGrant {
    /// What the signer signs, for one chain.
    pub fn signing_message(&self, chain_id: &str) -> Hash {
        super::chain_bound(HashDomain::StorageUpload, chain_id, &[&self.to_bytes()])
    }

    /// Signs the grant with `key` (the deal client's or a verifier's) for `chain_id`.
    pub fn sign(self, chain_id: &str, key: &Keypair) -> SignedUploadGrant {
        SignedUploadGrant {
            grant: self,
            signer: key.public(),
            signature: key.sign(self.signing_message(chain_id).as_bytes()),
        }
    }
}

impl Encode for UploadGrant {
    fn encode(&self, out: &mut Vec<u8>) {
        self.deal.encode(out);
        self.index.encode(out);
        self.provider.encode(out);
        self.expires.encode(out);
    }
}

impl Decode for UploadGrant {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(UploadGrant {
            deal: Hash::decode(r)?,
            index: r.u16()?,
            provider: DeviceAddress::decode(r)?,
            expires: Epoch::decode(r)?,
        })
    }
}

/// A grant with its signer and signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedUploadGrant {
    /// The grant.
    pub grant: UploadGrant,
    /// Who signed it: the provider checks it is the deal's client or a verifier.
    pub signer: PublicKey,
    /// The signature over [`UploadGrant::signing_message`].
    pub signature: Signature,
}

impl SignedUploadGrant {
    /// Whether `signer` signed it for `chain_id`.
    pub fn verify(&self, chain_id: &str) -> bool {
        self.signer
            .verify(self.grant.signing_message(chain_id).as_bytes(), &self.signature)
            .is_ok()
    }

    /// The header value carrying the grant.
    pub fn header(&self) -> String {
        hex::encode(self.to_bytes())
    }
}

impl Encode for SignedUploadGrant {
    fn encode(&self, out: &mut Vec<u8>) {
        self.grant.encode(out);
        self.signer.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for SignedUploadGrant {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedUploadGrant {
            grant: UploadGrant::decode(r)?,
            signer: PublicKey::decode(r)?,
            signature: Signature::decode(r)?,
        })
    }
}

/// Decodes an upload header's value (hex of a [`SignedUploadGrant`]) from an untrusted client.
pub fn decode_upload_header(value: &[u8]) -> Result<SignedUploadGrant, String> {
    super::decode_grant_header(value, "upload", MAX_UPLOAD_HEADER_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> UploadGrant {
        UploadGrant {
            deal: Hash([1; 32]),
            index: 3,
            provider: Keypair::from_seed([2; 32]).public().into(),
            expires: Epoch(9),
        }
    }

    #[test]
    fn a_grant_verifies_only_for_its_chain_and_signer_and_round_trips_through_its_header() {
        let client = Keypair::from_seed([1; 32]);
        let signed = grant().sign("chain-a", &client);
        assert!(signed.verify("chain-a"));
        assert!(!signed.verify("chain-b"), "replayed on another chain");
        let mut later = signed;
        later.grant.expires = Epoch(90);
        assert!(!later.verify("chain-a"), "an extended grant");
        let mut elsewhere = signed;
        elsewhere.grant.index = 4;
        assert!(!elsewhere.verify("chain-a"), "another piece");
        let claimed = SignedUploadGrant {
            signer: Keypair::from_seed([9; 32]).public(),
            ..signed
        };
        assert!(!claimed.verify("chain-a"), "someone else named as signer");
        assert_eq!(decode_upload_header(signed.header().as_bytes()), Ok(signed));
        assert_eq!(signed.to_bytes().len(), 170);
        assert!(decode_upload_header(b"zz").unwrap_err().contains("not hex"));
        let header = signed.header();
        assert!(decode_upload_header(&header.as_bytes()[..header.len() - 2])
            .unwrap_err()
            .contains("does not decode"));
        assert!(decode_upload_header("00".repeat(MAX_UPLOAD_HEADER_BYTES).as_bytes())
            .unwrap_err()
            .contains("over"));
    }
}
