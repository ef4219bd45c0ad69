//! A throwaway PostgreSQL cluster from Debian's binaries: initdb + pg_ctl in a temp dir
//! on a free loopback port, removed on drop. PostgreSQL refuses to run as root, so as
//! root the server runs as the `postgres` user (created by the Debian package).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running throwaway cluster.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn bin_dir() -> anyhow::Result<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
                .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some((_, path)) = versions.pop() {
        return Ok(path);
    }
    let out = Command::new("pg_config").arg("--bindir").output()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    anyhow::ensure!(path.join("initdb").exists(), "no PostgreSQL server binaries; run `cargo xtask setup`");
    Ok(path)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PgCluster {
    /// Creates and starts a cluster.
    pub fn start() -> anyhow::Result<Self> {
        let bin = bin_dir()?;
        let as_postgres = crate::setup::is_root();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
        let dir = std::env::temp_dir().join(format!("nexus-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        if as_postgres {
            let status = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status()?;
            anyhow::ensure!(status.success(), "chown postgres {}", dir.display());
        }
        let port = free_port()?;
        let cluster = Self { dir, bin, port, as_postgres };
        let data = cluster.dir.join("data");
        cluster.pg_tool("initdb", &["-D", path(&data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])?;
        // Throwaway data: durability settings off for speed; never for real data.
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            cluster.dir.display()
        );
        let log = cluster.dir.join("log");
        if let Err(e) = cluster.pg_tool("pg_ctl", &["-D", path(&data), "-l", path(&log), "-w", "-o", &options, "start"])
        {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: String =
                tail.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            anyhow::bail!("{e}\n{tail}");
        }
        Ok(cluster)
    }

    fn pg_tool(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd.args(args).current_dir(&self.dir).output()?;
        anyhow::ensure!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// Connection URL of database `db`.
    #[must_use]
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Path of a client program of this PostgreSQL version (pgbench, psql).
    #[must_use]
    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// Port the cluster listens on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("invariant: temp paths are UTF-8")
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        if let Err(e) = self.pg_tool("pg_ctl", &["-D", path(&data), "-m", "immediate", "stop"]) {
            eprintln!("warning: stopping the throwaway cluster: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `cargo xtask pg`: start a cluster, print its URL, wait for Enter or end of input.
pub fn hold() -> anyhow::Result<()> {
    let cluster = PgCluster::start()?;
    println!("{}", cluster.url("postgres"));
    println!("press Enter to stop");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    drop(cluster);
    Ok(())
}
