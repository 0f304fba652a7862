//! Passphrase-encrypted key files: argon2id derives a key from the passphrase, XChaCha20-Poly1305
//! seals the 32-byte ed25519 seed with the address as associated data. The seed is never printed.

use anyhow::{bail, Context, Result};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    XChaCha20Poly1305, XNonce,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::path::Path;
use trellis_primitives::{AccountAddress, Keypair};
use zeroize::Zeroizing;

/// argon2id memory cost in KiB: OWASP's recommended minimum (19 MiB, t=2, p=1).
const ARGON2_M_COST_KIB: u32 = 19 * 1024;
const ARGON2_T_COST: u32 = 2;
const ARGON2_P_COST: u32 = 1;
/// Upper bounds accepted when reading a file, so a hostile key file cannot make us allocate
/// gigabytes or spin for minutes.
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 16;
/// Largest key file read.
const MAX_KEYSTORE_BYTES: u64 = 64 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KdfParams {
    algorithm: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CipherParams {
    algorithm: String,
    nonce: String,
    ciphertext: String,
}

/// The on-disk format.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Keystore {
    version: u32,
    /// The account the key controls (readable without the passphrase).
    pub(crate) address: AccountAddress,
    kdf: KdfParams,
    cipher: CipherParams,
}

fn derive_key(passphrase: &[u8], salt: &[u8], m: u32, t: u32, p: u32) -> Result<Zeroizing<[u8; 32]>> {
    let params = Params::new(m, t, p, Some(32)).map_err(|e| anyhow::anyhow!("bad argon2 parameters: {e}"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|e| anyhow::anyhow!("key derivation failed: {e}"))?;
    Ok(key)
}

impl Keystore {
    /// Seals `key` under `passphrase`.
    pub(crate) fn seal(key: &Keypair, passphrase: &str) -> Result<Self> {
        if passphrase.is_empty() {
            bail!("the passphrase must not be empty");
        }
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let address = AccountAddress::from(key.public());
        let dk = derive_key(
            passphrase.as_bytes(),
            &salt,
            ARGON2_M_COST_KIB,
            ARGON2_T_COST,
            ARGON2_P_COST,
        )?;
        let cipher = XChaCha20Poly1305::new(dk.as_ref().into());
        let seed = Zeroizing::new(key.seed());
        let aad = address.to_string();
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: seed.as_ref(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        Ok(Keystore {
            version: 1,
            address,
            kdf: KdfParams {
                algorithm: "argon2id".into(),
                m_cost_kib: ARGON2_M_COST_KIB,
                t_cost: ARGON2_T_COST,
                p_cost: ARGON2_P_COST,
                salt: hex::encode(salt),
            },
            cipher: CipherParams {
                algorithm: "xchacha20poly1305".into(),
                nonce: hex::encode(nonce),
                ciphertext: hex::encode(ciphertext),
            },
        })
    }

    /// Decrypts the key. A wrong passphrase and a tampered file both fail authentication.
    pub(crate) fn open(&self, passphrase: &str) -> Result<Keypair> {
        if self.version != 1 || self.kdf.algorithm != "argon2id" || self.cipher.algorithm != "xchacha20poly1305" {
            bail!(
                "unsupported key file (version {}, {}, {})",
                self.version,
                self.kdf.algorithm,
                self.cipher.algorithm
            );
        }
        if self.kdf.m_cost_kib > MAX_M_COST_KIB || self.kdf.t_cost > MAX_T_COST || self.kdf.p_cost != 1 {
            bail!("key file asks for unreasonable key-derivation cost");
        }
        let salt = hex::decode(&self.kdf.salt).context("key file salt is not hex")?;
        let nonce = hex::decode(&self.cipher.nonce).context("key file nonce is not hex")?;
        if nonce.len() != 24 {
            bail!("key file nonce must be 24 bytes");
        }
        let ciphertext = hex::decode(&self.cipher.ciphertext).context("key file ciphertext is not hex")?;
        let dk = derive_key(
            passphrase.as_bytes(),
            &salt,
            self.kdf.m_cost_kib,
            self.kdf.t_cost,
            self.kdf.p_cost,
        )?;
        let cipher = XChaCha20Poly1305::new(dk.as_ref().into());
        let aad = self.address.to_string();
        let seed = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: aad.as_bytes(),
                    },
                )
                .map_err(|_| anyhow::anyhow!("wrong passphrase, or the key file was modified"))?,
        );
        let seed: [u8; 32] = seed.as_slice().try_into().context("decrypted seed is not 32 bytes")?;
        let key = Keypair::from_seed(seed);
        if AccountAddress::from(key.public()) != self.address {
            bail!("key file address does not match its key");
        }
        Ok(key)
    }

    /// Writes the file, refusing to overwrite an existing one. On Unix it is readable by the owner only.
    pub(crate) fn write_new(&self, path: &Path) -> Result<()> {
        write_private(path, serde_json::to_string_pretty(self)?.as_bytes())
    }

    /// Reads a key file.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).with_context(|| format!("cannot read key file {}", path.display()))?;
        if meta.len() > MAX_KEYSTORE_BYTES {
            bail!("{} is too large to be a key file", path.display());
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read key file {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a Trellis key file", path.display()))
    }
}

/// Creates `path` with `bytes`, readable by its owner only (on Unix), synced to disk; refuses to
/// overwrite an existing file. For key material.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create key file {} (does it exist already?)", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_wrong_passphrase_fails() {
        let key = Keypair::from_seed([5; 32]);
        let ks = Keystore::seal(&key, "correct horse").unwrap();
        assert_eq!(ks.open("correct horse").unwrap().public(), key.public());
        assert!(ks.open("wrong").unwrap_err().to_string().contains("wrong passphrase"));
        let json = serde_json::to_string(&ks).unwrap();
        assert!(
            !json.contains(&hex::encode([5u8; 32])),
            "seed must not appear in the file"
        );
    }

    #[test]
    fn tampered_address_fails_authentication() {
        let ks = Keystore::seal(&Keypair::from_seed([5; 32]), "pw").unwrap();
        let mut json: serde_json::Value = serde_json::to_value(&ks).unwrap();
        json["address"] = serde_json::json!(AccountAddress::from(Keypair::from_seed([6; 32]).public()).to_string());
        let forged: Keystore = serde_json::from_value(json).unwrap();
        assert!(forged.open("pw").is_err());
    }
}
