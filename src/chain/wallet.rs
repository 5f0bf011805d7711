//! A node's EVM wallet: one secp256k1 key beside its ed25519 identity, kept in the data dir
//! as `wallet.key` (64 hex characters and a newline, mode 0600).
//!
//! Invariants: the key file is created once, with `create_new` and mode 0600 from the start
//! (never written then narrowed), and synced before it is used; a key file that others can
//! read or write is refused on load, as ssh does, rather than silently trusted.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use alloy::signers::local::PrivateKeySigner;

use super::ChainError;

/// The wallet's file name in the data dir.
pub const WALLET_FILE: &str = "wallet.key";

/// A secp256k1 key and its address.
#[derive(Clone)]
pub struct Wallet {
    signer: PrivateKeySigner,
}

impl std::fmt::Debug for Wallet {
    // Never print the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("address", &self.address())
            .finish()
    }
}

impl Wallet {
    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        Wallet {
            signer: PrivateKeySigner::random(),
        }
    }

    /// The wallet of a 32-byte secret; refused if it is 0 or not below the curve order.
    pub fn from_secret(secret: [u8; 32]) -> Result<Self, ChainError> {
        PrivateKeySigner::from_bytes(&B256::from(secret))
            .map(|signer| Wallet { signer })
            .map_err(|e| ChainError::Invalid(format!("not a secp256k1 secret key: {e}")))
    }

    /// The wallet of a hex secret (`0x` optional), as `--private-key` takes it.
    pub fn from_hex(text: &str) -> Result<Self, ChainError> {
        let text = text.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        let secret: [u8; 32] = hex::decode(text)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| ChainError::Invalid("a private key is 64 hex characters".into()))?;
        Self::from_secret(secret)
    }

    /// The wallet's EVM address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The signer, for the RPC client and voucher signatures.
    pub fn signer(&self) -> &PrivateKeySigner {
        &self.signer
    }

    /// The path of the wallet file in `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(WALLET_FILE)
    }

    /// Writes the key to `data_dir/wallet.key` (0600); refuses to replace an existing one.
    pub fn save(&self, data_dir: &Path) -> Result<(), ChainError> {
        let path = Self::path(data_dir);
        let io = |source| ChainError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        let text = format!("{}\n", hex::encode(self.signer.to_bytes()));
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)
    }

    /// Reads the key from `data_dir/wallet.key`.
    pub fn load(data_dir: &Path) -> Result<Self, ChainError> {
        let path = Self::path(data_dir);
        let io = |source| ChainError::Io {
            path: path.clone(),
            source,
        };
        let mode = std::fs::metadata(&path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(ChainError::Wallet {
                path,
                reason: format!(
                    "mode {:o} lets others read or write the key; it must be 0600",
                    mode & 0o777
                ),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        Self::from_hex(&text).map_err(|e| ChainError::Wallet {
            path,
            reason: e.to_string(),
        })
    }

    /// Loads the wallet, creating and saving a new one if the data dir has none.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, ChainError> {
        if Self::path(data_dir).exists() {
            return Self::load(data_dir);
        }
        let wallet = Self::generate();
        wallet.save(data_dir)?;
        Ok(wallet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_wallet_loads_with_the_same_address_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = Wallet::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(Wallet::path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            Wallet::load(dir.path()).unwrap().address(),
            wallet.address()
        );
        assert_eq!(
            Wallet::load_or_create(dir.path()).unwrap().address(),
            wallet.address()
        );
        assert_ne!(Wallet::generate().address(), wallet.address());
        // Saving again never replaces the key.
        let err = Wallet::generate().save(dir.path()).unwrap_err();
        assert!(
            matches!(&err, ChainError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{err}"
        );
        assert_eq!(
            Wallet::load(dir.path()).unwrap().address(),
            wallet.address()
        );
        assert!(!format!("{wallet:?}").contains(&hex::encode(wallet.signer.to_bytes())));
    }

    #[test]
    fn a_known_secret_has_its_known_address() {
        // Anvil's first development account.
        let wallet =
            Wallet::from_hex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .unwrap();
        assert_eq!(
            wallet.address(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
                .parse::<Address>()
                .unwrap()
        );
    }

    #[test]
    fn bad_key_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = Wallet::path(dir.path());
        assert!(matches!(
            Wallet::load(dir.path()),
            Err(ChainError::Io { .. })
        ));

        let write = |text: &str, mode: u32| {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write(&format!("{}\n", "11".repeat(32)), 0o644);
        let err = Wallet::load(dir.path()).unwrap_err();
        assert!(
            matches!(&err, ChainError::Wallet { reason, .. } if reason.contains("0600")),
            "{err}"
        );
        write("not hex\n", 0o600);
        assert!(matches!(
            Wallet::load(dir.path()),
            Err(ChainError::Wallet { .. })
        ));
        write(&"11".repeat(31), 0o600);
        assert!(matches!(
            Wallet::load(dir.path()),
            Err(ChainError::Wallet { .. })
        ));
        // Zero is not a key, nor is the curve order.
        write(&"00".repeat(32), 0o600);
        assert!(matches!(
            Wallet::load(dir.path()),
            Err(ChainError::Wallet { .. })
        ));
        write(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            0o600,
        );
        assert!(matches!(
            Wallet::load(dir.path()),
            Err(ChainError::Wallet { .. })
        ));
        write(&"11".repeat(32), 0o600);
        assert!(Wallet::load(dir.path()).is_ok());
    }
}
