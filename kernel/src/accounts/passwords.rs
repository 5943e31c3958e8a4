//! Argon2id password hashing on a small pool of dedicated threads.
//!
//! Each worker owns one reusable block of Argon2 memory. Hashing on tokio's blocking pool
//! instead let every burst of sign-ins spawn threads that each allocated and freed 19 MiB;
//! glibc kept those in per-thread arenas and the server grew to 1.8 GB after ten seconds of
//! sign-ins (xtask/bench.sh). With the pool, memory is bounded at workers × 19 MiB, and a burst
//! queues instead of oversubscribing the CPU.

use std::sync::{Arc, Mutex};

use anyhow::{Context, anyhow};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{mpsc, oneshot};

use super::Password;

/// OWASP's recommendation for Argon2id: 19 MiB, 2 passes, 1 lane.
pub const PRODUCTION_PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);

enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<anyhow::Result<String>>,
    },
    Verify {
        password: String,
        stored: String,
        reply: oneshot::Sender<anyhow::Result<bool>>,
    },
}

/// Hashes and verifies passwords with fixed parameters. Production uses `PRODUCTION_PARAMS`;
/// the e2e harness uses `Hasher::cheap()` so hundreds of sign-ins stay fast, and a unit test
/// asserts the production parameters.
#[derive(Clone)]
pub struct Hasher {
    jobs: mpsc::Sender<Job>,
    /// A hash of a random password with the same parameters: verifying against it when the
    /// account does not exist costs the same time, so timing does not reveal registered phones.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    pub fn production() -> anyhow::Result<Hasher> {
        let (m, t, p) = PRODUCTION_PARAMS;
        Hasher::start(Params::new(m, t, p, None).map_err(anyhow::Error::msg)?)
    }

    pub fn cheap() -> anyhow::Result<Hasher> {
        Hasher::start(Params::new(256, 1, 1, None).map_err(anyhow::Error::msg)?)
    }

    fn start(params: Params) -> anyhow::Result<Hasher> {
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4);
        // A short queue: callers wait in their own tasks, not in an unbounded buffer.
        let (jobs, receiver) = mpsc::channel::<Job>(workers * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let receiver = Arc::clone(&receiver);
            let params = params.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || worker(&receiver, &params))
                .context("starting a password hashing thread")?;
        }
        let dummy_hash = hash_with(&params, "dummy password never used 0", &mut Vec::new())?.into();
        Ok(Hasher { jobs, dummy_hash })
    }

    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash {
            password: password.expose().to_owned(),
            reply,
        })
        .await?;
        answer.await.context("password hashing thread stopped")?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no stored
    /// hash (returning false after the same amount of work).
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> anyhow::Result<bool> {
        let known = stored.is_some();
        let (reply, answer) = oneshot::channel();
        let stored = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        self.submit(Job::Verify {
            password: password.to_owned(),
            stored,
            reply,
        })
        .await?;
        let matches = answer.await.context("password hashing thread stopped")??;
        Ok(known && matches)
    }

    /// Waits for room in the queue without blocking an async thread.
    async fn submit(&self, job: Job) -> anyhow::Result<()> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| anyhow!("password hashing threads stopped"))
    }
}

fn worker(receiver: &Mutex<mpsc::Receiver<Job>>, params: &Params) {
    // Grown on the first job and kept: an idle server holds no Argon2 memory.
    let mut memory = Vec::new();
    loop {
        // One idle worker waits on the queue while holding the lock; the others wait for the
        // lock. Either way a job goes to exactly one worker.
        let job = match receiver.lock() {
            Ok(mut guard) => guard.blocking_recv(),
            Err(_) => return,
        };
        match job {
            Some(Job::Hash { password, reply }) => {
                let _ = reply.send(hash_with(params, &password, &mut memory));
            }
            Some(Job::Verify {
                password,
                stored,
                reply,
            }) => {
                let _ = reply.send(verify_with(&password, &stored, &mut memory));
            }
            None => return,
        }
    }
}

fn hash_with(params: &Params, password: &str, memory: &mut Vec<Block>) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .map_err(anyhow::Error::msg)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    memory.resize(params.block_count(), Block::default());
    let output = Output::init_with(
        params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN),
        |out| {
            argon
                .hash_password_into_with_memory(password.as_bytes(), salt_raw, out, &mut memory[..])
                .map_err(|_| argon2::password_hash::Error::Password)
        },
    )
    .map_err(anyhow::Error::msg)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(anyhow::Error::msg)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Verifies against a stored PHC string, with the parameters stored in it (so hashes made
/// with older parameters keep working).
fn verify_with(password: &str, stored: &str, memory: &mut Vec<Block>) -> anyhow::Result<bool> {
    let parsed = PasswordHash::new(stored).map_err(anyhow::Error::msg)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(anyhow::Error::msg)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(anyhow::Error::msg)?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(anyhow::Error::msg)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .map_err(anyhow::Error::msg)?;
    memory.resize(params.block_count(), Block::default());
    let argon = Argon2::new(algorithm, version, params);
    let actual = Output::init_with(expected.len(), |out| {
        argon
            .hash_password_into_with_memory(password.as_bytes(), salt_raw, out, &mut memory[..])
            .map_err(|_| argon2::password_hash::Error::Password)
    })
    .map_err(anyhow::Error::msg)?;
    // `Output`'s equality is constant-time.
    Ok(actual == expected)
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[tokio::test]
    async fn production_hashes_are_argon2id_with_owasp_parameters() -> anyhow::Result<()> {
        let hasher = Hasher::production()?;
        let password = Password::parse("pifa1234", "password").map_err(|e| anyhow!(e.message))?;
        let hash = hasher.hash(&password).await?;
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher.verify("pifa1234", Some(&hash)).await?);
        assert!(!hasher.verify("pifa12345", Some(&hash)).await?);
        assert!(!hasher.verify("pifa1234", None).await?);
        // Interoperable with the reference implementation, both ways.
        let parsed = PasswordHash::new(&hash).map_err(anyhow::Error::msg)?;
        assert!(
            Argon2::default()
                .verify_password(b"pifa1234", &parsed)
                .is_ok()
        );
        let cheap = Hasher::cheap()?;
        let reference = {
            use argon2::PasswordHasher as _;
            Argon2::default()
                .hash_password(b"other5678", &SaltString::generate(&mut OsRng))
                .map_err(anyhow::Error::msg)?
                .to_string()
        };
        assert!(
            cheap.verify("other5678", Some(&reference)).await?,
            "hashes with other parameters still verify"
        );
        Ok(())
    }
}
