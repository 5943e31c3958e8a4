//! Argon2id password hashing, always off the async threads.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::Password;

/// Argon2id with fixed parameters. Production uses OWASP's recommendation (19 MiB, 2 passes,
/// 1 lane); the e2e harness uses `Hasher::cheap()` so a test suite of hundreds of sign-ins
/// stays fast, and a test asserts the production parameters.
#[derive(Clone, Debug)]
pub struct Hasher {
    params: Params,
    /// A hash of a random password with the same parameters: verifying against it when the
    /// account does not exist costs the same time, so timing does not reveal registered phones.
    dummy_hash: String,
}

pub const PRODUCTION_PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);

impl Hasher {
    pub fn production() -> anyhow::Result<Hasher> {
        let (m, t, p) = PRODUCTION_PARAMS;
        Hasher::with_params(Params::new(m, t, p, None).map_err(anyhow::Error::msg)?)
    }

    pub fn cheap() -> anyhow::Result<Hasher> {
        Hasher::with_params(Params::new(256, 1, 1, None).map_err(anyhow::Error::msg)?)
    }

    fn with_params(params: Params) -> anyhow::Result<Hasher> {
        let dummy_hash = hash_with(&params, "dummy password never used 0")?;
        Ok(Hasher { params, dummy_hash })
    }

    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let params = self.params.clone();
        let password = password.expose().to_owned();
        tokio::task::spawn_blocking(move || hash_with(&params, &password)).await?
    }

    /// Verifies `password` against `stored` (or against the dummy hash when there is no stored
    /// hash, returning false after the same amount of work).
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let known = stored.is_some();
        let hash = stored.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(anyhow::Error::msg)?;
            Ok::<_, anyhow::Error>(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await??;
        Ok(known && matches)
    }
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    Ok(argon.hash_password(password.as_bytes(), &salt).map_err(anyhow::Error::msg)?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn production_hashes_are_argon2id_with_owasp_parameters() -> anyhow::Result<()> {
        let hasher = Hasher::production()?;
        let password = Password::parse("pifa1234", "password").map_err(|e| anyhow::anyhow!(e.message))?;
        let hash = hasher.hash(&password).await?;
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(hasher.verify("pifa1234", Some(&hash)).await?);
        assert!(!hasher.verify("pifa12345", Some(&hash)).await?);
        assert!(!hasher.verify("pifa1234", None).await?);
        Ok(())
    }
}
