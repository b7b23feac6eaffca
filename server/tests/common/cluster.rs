//! Private Redis Clusters for the tests (`scripts/redis-cluster.sh`): one
//! shared by the tests that only use a cluster ([`shared`]), and ones a
//! test owns alone, to kill its nodes ([`Cluster::start`]). Both stop by
//! themselves when the test process ends; neither touches the Redis on
//! 6379.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// How many partitions the tests' partitioned buses have: twice the masters,
/// so each master holds two.
pub const PARTITIONS: u16 = 6;

pub struct Cluster {
    pub dir: PathBuf,
    /// The seed nodes, as `REDIS_URL` takes them.
    pub url: String,
    /// Whether dropping it stops it (the shared one lives as long as the
    /// process).
    owned: bool,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/redis-cluster.sh")
}

impl Cluster {
    /// A cluster of `masters` masters with a replica each, for this test
    /// alone; stopped when dropped.
    pub fn start(masters: usize) -> Self {
        let mut cluster = Self::launch(masters);
        cluster.owned = true;
        cluster
    }

    fn launch(masters: usize) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tickpulse-cluster-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let out = Command::new(script())
            .arg("start")
            .arg(&dir)
            .arg(masters.to_string())
            .arg("1")
            .arg(std::process::id().to_string())
            .output()
            .expect("scripts/redis-cluster.sh runs");
        assert!(
            out.status.success(),
            "the test cluster did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        Self {
            dir,
            url,
            owned: false,
        }
    }

    fn ports(&self, role: &str) -> Vec<u16> {
        std::fs::read_to_string(self.dir.join(role))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// The masters' ports, as the cluster was created.
    pub fn masters(&self) -> Vec<u16> {
        self.ports("masters")
    }

    /// Kills the node on `port` at once (SIGKILL), as a crash would.
    pub fn kill(&self, port: u16) {
        let pid = std::fs::read_to_string(self.dir.join(format!("{port}.pid")))
            .expect("the node's pid file");
        let pid: i32 = pid.trim().parse().unwrap();
        // SAFETY: a plain kill(2) of a process this test started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }

    /// A synchronous connection to the node on `port`.
    pub fn node(&self, port: u16) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .and_then(|c| c.get_connection())
            .expect("a connection to the cluster node")
    }

    /// Deletes the keys of `prefix` on every node.
    pub fn delete_keys(&self, prefix: &str) {
        super::delete_keys(&self.url, prefix);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new(script()).arg("stop").arg(&self.dir).status();
        }
    }
}

/// The cluster the tests of this process share: 3 masters and 3 replicas,
/// started on first use.
pub fn shared() -> &'static Cluster {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    SHARED.get_or_init(|| Cluster::launch(3))
}
