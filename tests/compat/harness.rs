//! etcd compatibility harness: runs the same scenario script against a real
//! etcd 3.4 (Debian's `/usr/bin/etcd`) and against etcq, each freshly
//! started on free 127.0.0.1 ports in its own temp dir, normalizes both
//! outputs in one place ([`Normalizer`]) and compares them section by
//! section. Intended differences are listed once, in [`KNOWN_DIFFERENCES`]
//! (and explained in docs/compatibility.md).
//!
//! A scenario script prints sections: `### <label>` then its output. Lines
//! `@@id <kind> <hex>` declare server-chosen IDs (lease IDs) to the
//! normalizer and are not part of any section.
//!
//! Which servers run: both (`ETCQ_COMPAT=both`, the default when
//! [`RUN_ETCQ_BY_DEFAULT`] is set). `ETCQ_COMPAT=etcd` runs only the etcd
//! side (to work on the scenarios themselves); `ETCQ_COMPAT=etcq` only etcq
//! (its own checks, no comparison). `ETCQ_COMPAT_DUMP=<dir>` writes each
//! side's raw and normalized sections there.
//!
//! Every process is killed on drop; every wait has a deadline.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest a server may take to answer `etcdctl endpoint health`.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);
/// Longest one scenario script may run (they take a few seconds).
pub const SCRIPT_DEADLINE: Duration = Duration::from_secs(90);

/// How much of a section a known difference takes out of the comparison.
#[derive(Clone, Copy, Debug)]
pub enum Ignore {
    /// The whole section (and etcq's self-checks of it).
    Section,
    /// Only these parts, removed from both sides before comparing:
    /// `json:a.b.c` drops that key path from every JSON line (arrays are
    /// walked through, `*` matches any key); `field:Name` drops `-w fields`
    /// lines of that name; `text:TOKEN` deletes a (normalized) token from
    /// plain lines; `after:MARK` blanks what follows MARK up to a space;
    /// `sort:KEY` sorts the arrays under that JSON key; `sortlines` sorts
    /// the plain lines of the section (order-only differences).
    Parts(&'static [&'static str]),
}

/// Differences between etcd 3.4.23 and etcq that are intended, or are etcq
/// bugs outside the etcd front (so not this suite's to keep red): one row
/// per (scenario, section label), with what is ignored and why. Everything
/// not listed here is compared. Keep docs/compatibility.md in step.
#[rustfmt::skip]
pub const KNOWN_DIFFERENCES: &[(&str, &str, Ignore, &str)] = &[
    // --- one member, no peer listener, no membership changes ---
    ("etcdctl_cluster", "member-list", Ignore::Parts(&["text:<peer-url>"]), NO_PEERS),
    ("etcdctl_cluster", "member-list-json", Ignore::Parts(&["json:members.peerURLs"]), NO_PEERS),
    ("etcdctl_cluster", "member-list-table", Ignore::Parts(&["text:<peer-url>"]), NO_PEERS),
    ("etcdctl_cluster", "member-list-fields", Ignore::Parts(&["field:PeerURL"]), NO_PEERS),
    ("json_gateway_curl", "member-list", Ignore::Parts(&["json:members.peerURLs"]), NO_PEERS),
    ("etcdctl_cluster", "member-list-after", Ignore::Parts(&["text:<peer-url>"]), NO_PEERS),
    ("python_etcd3", "members", Ignore::Parts(&["json:peer_urls"]), NO_PEERS),
    ("python_etcd3gw", "members", Ignore::Parts(&["json:ok.peers"]), NO_PEERS),
    ("etcdctl_cluster", "member-add-learner", Ignore::Section, NO_MEMBERSHIP),
    ("etcdctl_cluster", "member-list-with-learner", Ignore::Section, NO_MEMBERSHIP),
    ("etcdctl_cluster", "member-promote-unsynced", Ignore::Section, NO_MEMBERSHIP),
    ("etcdctl_cluster", "member-update", Ignore::Section, NO_MEMBERSHIP),
    ("etcdctl_cluster", "member-remove", Ignore::Section, NO_MEMBERSHIP),
    ("etcdctl_cluster", "member-remove-again", Ignore::Section, NO_MEMBERSHIP),
    // --- AuthStatus is etcd 3.5's ---
    ("json_gateway_curl", "auth-status", Ignore::Section, AUTH_STATUS),
    // --- lease listing order ---
    ("etcdctl_lease", "list", Ignore::Parts(&["sortlines"]), LEASE_ORDER),
    ("etcdctl_lease", "list-json", Ignore::Parts(&["sort:leases"]), LEASE_ORDER),
    ("etcdctl_lease", "list-after-revoke", Ignore::Parts(&["sortlines"]), LEASE_ORDER),
    ("etcdctl_lease", "list-at-end", Ignore::Parts(&["sort:leases"]), LEASE_ORDER),
    ("json_gateway_curl", "lease-leases", Ignore::Parts(&["sort:leases"]), LEASE_ORDER),
    ("json_gateway_curl", "lease-leases-kv-path", Ignore::Parts(&["sort:leases"]), LEASE_ORDER),
    // --- gateway details ---
    ("json_gateway_curl", "range-bad-json", Ignore::Parts(&["json:error", "json:message"]), GO_JSON_ERRORS),
    ("json_gateway_curl", "range-sort-enum-number", Ignore::Section, SORT_TIES),
    ("json_gateway_curl", "hash-kv", Ignore::Section, GATEWAY_HASHKV),
    // --- maintenance (raft core / storage) ---
    ("etcdctl_maintenance", "snapshot-status-json", Ignore::Section, SNAPSHOT_FORMAT),
    ("etcdctl_maintenance", "snapshot-status-table", Ignore::Section, SNAPSHOT_FORMAT),
];

const NO_PEERS: &str = "etcq has one member and no peer listener: it reports no peer URLs";
const NO_MEMBERSHIP: &str =
    "etcq runs a single member: MemberAdd/Update/Remove/Promote are not served (Unimplemented)";
const AUTH_STATUS: &str = "AuthStatus is etcd 3.5's RPC: etcd 3.4's gateway has no /v3/auth/status route (404); etcq serves it (enabled flag and auth revision)";
const GO_JSON_ERRORS: &str = "the text of a malformed-JSON error is Go's encoding/json message in etcd; etcq's parser words it differently (same code 3, HTTP 400)";
const SORT_TIES: &str = "DESCEND by VERSION with equal versions: etcd keeps key order among ties (Go's sort.Sort on a small slice), etcq reverses it; the API leaves tie order unspecified";
const GATEWAY_HASHKV: &str = "etcd 3.4's gateway has no /v3/maintenance/hashkv route (404); etcq's gateway serves every RPC of the proto, HashKV included";
const SNAPSHOT_FORMAT: &str = "etcq's snapshot is its own checkpoint format (padded to k*512+32 bytes and ending in a SHA-256, so etcdctl 3.4 `snapshot save` accepts it), not a bbolt file: `etcdctl snapshot status` answers \"invalid database\". Storage format, not the front";
const LEASE_ORDER: &str = "LeaseLeases order: etcd 3.4 lists leases in its lessor's order (here: grant order), etcq in lease-ID order and its lease IDs are random; the API leaves the order unspecified (compared sorted)";

/// The two servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Etcd,
    Etcq,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Etcd => "etcd",
            Kind::Etcq => "etcq",
        }
    }
}

/// Whether etcq's side runs when ETCQ_COMPAT is unset. (While etcq's etcd
/// front was being written this was false and ETCQ_COMPAT=both switched it
/// on; set it to false only to land scenarios ahead of the server.)
pub const RUN_ETCQ_BY_DEFAULT: bool = true;

/// Which sides this run covers (ETCQ_COMPAT=both|etcd|etcq).
pub fn sides() -> Vec<Kind> {
    match std::env::var("ETCQ_COMPAT").as_deref() {
        Ok("etcd") => vec![Kind::Etcd],
        Ok("etcq") => vec![Kind::Etcq],
        Ok("both") => vec![Kind::Etcd, Kind::Etcq],
        Ok("") | Err(_) if RUN_ETCQ_BY_DEFAULT => vec![Kind::Etcd, Kind::Etcq],
        Ok("") | Err(_) => vec![Kind::Etcd],
        Ok(other) => panic!("ETCQ_COMPAT={other}: expected both, etcd or etcq"),
    }
}

/// A free 127.0.0.1 port (TCP, and UDP too if asked), picked below Linux's
/// ephemeral range (32768..61000), where any test's outgoing connection may
/// take a port at any moment; 12000..20000 is this suite's, the other
/// process-level tests probe 20000..32000.
fn free_port(udp_too: bool) -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() % 300) as u16 * 24;
    for _ in 0..2_000 {
        let port = 12_000 + (base + NEXT.fetch_add(1, Ordering::Relaxed)) % 8_000;
        let tcp = TcpListener::bind(("127.0.0.1", port));
        if tcp.is_ok() && (!udp_too || UdpSocket::bind(("127.0.0.1", port)).is_ok()) {
            return port;
        }
    }
    panic!("no free 127.0.0.1 port below the ephemeral range");
}

/// One running server, killed on drop.
pub struct Server {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub peer_port: u16,
    child: Option<Child>,
}

impl Server {
    pub fn start(kind: Kind) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port(kind == Kind::Etcq);
        let peer_port = if kind == Kind::Etcd {
            free_port(false)
        } else {
            0
        };
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let data = dir.path().join("data");
        let mut cmd = match kind {
            Kind::Etcd => {
                let client = format!("http://127.0.0.1:{port}");
                let peer = format!("http://127.0.0.1:{peer_port}");
                let mut c = Command::new("etcd");
                c.arg("--name")
                    .arg("n1")
                    .arg("--data-dir")
                    .arg(&data)
                    .arg("--listen-client-urls")
                    .arg(&client)
                    .arg("--advertise-client-urls")
                    .arg(&client)
                    .arg("--listen-peer-urls")
                    .arg(&peer)
                    .arg("--initial-advertise-peer-urls")
                    .arg(&peer)
                    .arg("--initial-cluster")
                    .arg(format!("n1={peer}"))
                    .arg("--logger")
                    .arg("zap");
                c
            }
            Kind::Etcq => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_etcq"));
                c.arg("--name")
                    .arg("n1")
                    .arg("--data-dir")
                    .arg(&data)
                    .arg("--listen-client-addr")
                    .arg(format!("127.0.0.1:{port}"))
                    .env("ETCQ_TRUST_DIR", dir.path().join("trust"))
                    .env("ETCQ_LOG", "warn");
                c
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); scripts/test installs etcd-server",
                    kind.name()
                )
            });
        let mut server = Server {
            kind,
            dir,
            port,
            peer_port,
            child: Some(child),
        };
        server.wait_ready();
        server
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let until = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "{} exited before it was ready ({status}); log:\n{}",
                        self.kind.name(),
                        self.log()
                    );
                }
            }
            let ok = etcdctl(&self.endpoint(), &["endpoint", "health"])
                .map(|(ok, _)| ok)
                .unwrap_or(false);
            if ok {
                return;
            }
            if Instant::now() > until {
                panic!(
                    "{} on {} did not answer `etcdctl endpoint health` within {:?}; log:\n{}",
                    self.kind.name(),
                    self.endpoint(),
                    READY_DEADLINE,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs etcdctl once (bounded by `timeout`); returns (success, stdout).
pub fn etcdctl(endpoint: &str, args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("timeout")
        .arg("10")
        .arg("etcdctl")
        .arg("--endpoints")
        .arg(endpoint)
        .arg("--dial-timeout")
        .arg("2s")
        .arg("--command-timeout")
        .arg("5s")
        .args(args)
        .env("ETCDCTL_API", "3")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

/// How a scenario file is run.
#[derive(Clone, Copy, Debug)]
pub enum Lang {
    Sh,
    Python,
}

/// What one scenario printed against one server.
#[derive(Debug, Default, Clone)]
pub struct Output {
    /// Sections in order: (label, raw text).
    pub sections: Vec<(String, String)>,
    /// Declared IDs in order: (kind, hex).
    pub ids: Vec<(String, String)>,
    /// Text before the first section (should be empty).
    pub preamble: String,
    pub stderr: String,
    pub status: String,
}

impl Output {
    pub fn get(&self, label: &str) -> Option<&str> {
        self.sections
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, t)| t.as_str())
    }
}

fn parse(stdout: &str) -> Output {
    let mut out = Output::default();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in stdout.lines() {
        if let Some(label) = line.strip_prefix("### ") {
            if let Some((l, body)) = current.take() {
                out.sections.push((l, body.join("\n")));
            }
            current = Some((label.trim().to_string(), Vec::new()));
        } else if let Some(decl) = line.strip_prefix("@@id ") {
            let mut parts = decl.split_whitespace();
            if let (Some(kind), Some(hex)) = (parts.next(), parts.next()) {
                out.ids.push((kind.to_string(), hex.to_string()));
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push(line);
        } else {
            out.preamble.push_str(line);
            out.preamble.push('\n');
        }
    }
    if let Some((l, body)) = current.take() {
        out.sections.push((l, body.join("\n")));
    }
    out
}

fn scenario_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("compat")
        .join(file)
}

/// Runs one scenario script against an endpoint, in its own process group
/// (killed as a whole when it ends or overruns [`SCRIPT_DEADLINE`]).
pub fn run_script(lang: Lang, file: &str, endpoint: &str, workdir: &Path) -> Output {
    let path = scenario_path(file);
    let mut cmd = match lang {
        Lang::Sh => Command::new("sh"),
        // Debian's python: python3-etcd3 and python3-etcd3gw live there.
        Lang::Python => Command::new("/usr/bin/python3"),
    };
    let mut child = cmd
        .arg(&path)
        .arg(endpoint)
        .current_dir(workdir)
        .env("ETCDCTL_API", "3")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("TMPDIR", workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let pgid = child.id() as i32;
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let until = Instant::now() + SCRIPT_DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break format!("{st}");
        }
        if Instant::now() > until {
            kill_group(pgid);
            let _ = child.wait();
            break format!("killed after {SCRIPT_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whatever the script left behind (a watch, a lock holder) goes too.
    kill_group(pgid);
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    let mut out = parse(&String::from_utf8_lossy(&stdout));
    out.stderr = String::from_utf8_lossy(&stderr).into_owned();
    out.status = status;
    out
}

fn kill_group(pgid: i32) {
    // SAFETY: kill(2) on our own child's process group; no memory involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

// ---------------------------------------------------------------------------
// Normalization: everything that legitimately differs between two servers
// doing the same operations. Revisions, counts, keys and values are kept.
// ---------------------------------------------------------------------------

/// What the harness learned about one server before the scenario ran.
#[derive(Debug, Clone)]
pub struct Identity {
    pub endpoint: String,
    pub peer_url: Option<String>,
    pub cluster_id: u64,
    pub member_id: u64,
    pub version: String,
}

impl Identity {
    fn learn(server: &Server) -> Identity {
        let ep = server.endpoint();
        let (_, get) = etcdctl(&ep, &["get", "identity-probe", "-w", "json"])
            .unwrap_or((false, String::new()));
        let header: Value = serde_json::from_str(get.trim()).unwrap_or(Value::Null);
        let num = |v: &Value| -> u64 {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0)
        };
        let (_, st) =
            etcdctl(&ep, &["endpoint", "status", "-w", "json"]).unwrap_or((false, String::new()));
        let status: Value = serde_json::from_str(st.trim()).unwrap_or(Value::Null);
        Identity {
            endpoint: ep,
            peer_url: (server.kind == Kind::Etcd)
                .then(|| format!("http://127.0.0.1:{}", server.peer_port)),
            cluster_id: num(&header["header"]["cluster_id"]),
            member_id: num(&header["header"]["member_id"]),
            version: status[0]["Status"]["version"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        }
    }
}

/// The one normalizer: token replacement for IDs and addresses, then
/// per-format rules (JSON documents, `-w fields`, `-w table`, etcdctl's
/// simple lines).
pub struct Normalizer {
    /// (token, placeholder), longest tokens first.
    tokens: Vec<(String, String)>,
    leases: BTreeMap<u64, String>,
    id: Identity,
}

/// JSON keys whose values differ between servers for no client-visible
/// reason (or are timestamps/durations/sizes/hashes).
const JSON_OPAQUE: &[&str] = &[
    "cluster_id",
    "member_id",
    "raft_term",
    "raft_index",
    "raft_applied_index",
    "raftTerm",
    "raftIndex",
    "raftAppliedIndex",
    "dbSize",
    "dbSizeInUse",
    "db_size",
    "db_size_in_use",
    "etcdserver",
    "etcdcluster",
    "hash",
    "totalSize",
    "totalKey",
    "ts",
    "took",
    "target",
    "size",
    "leader",
];

/// `-w fields` names with the same status.
const FIELDS_OPAQUE: &[&str] = &[
    "ClusterID",
    "MemberID",
    "RaftTerm",
    "RaftIndex",
    "RaftAppliedIndex",
    "DBSize",
    "Leader",
    "Hash",
];

/// `-w table` columns with the same status.
const TABLE_OPAQUE: &[&str] = &[
    "ID",
    "VERSION",
    "DB SIZE",
    "RAFT TERM",
    "RAFT INDEX",
    "RAFT APPLIED INDEX",
    "HASH",
    "TOOK",
    "TOTAL SIZE",
    "TOTAL KEYS",
];

impl Normalizer {
    pub fn new(id: &Identity, out: &Output) -> Normalizer {
        let mut n = Normalizer {
            tokens: Vec::new(),
            leases: BTreeMap::new(),
            id: id.clone(),
        };
        for (kind, hex) in &out.ids {
            if kind == "lease" {
                if let Ok(v) = u64::from_str_radix(hex, 16) {
                    n.lease(v);
                }
            }
        }
        // Leases the scripts did not declare, in order of appearance.
        for (_, text) in &out.sections {
            for line in text.lines() {
                if let Ok(v) = serde_json::from_str::<Value>(line.trim()) {
                    n.discover(&v, None);
                }
                if let Some(rest) = line.trim().strip_prefix("\"Lease\" : ") {
                    if let Ok(v) = rest.trim().parse::<u64>() {
                        if v != 0 {
                            n.lease(v);
                        }
                    }
                }
            }
        }
        n.rebuild_tokens();
        n
    }

    fn lease(&mut self, v: u64) -> String {
        let next = self.leases.len() + 1;
        self.leases
            .entry(v)
            .or_insert_with(|| format!("<lease-{next}>"))
            .clone()
    }

    fn discover(&mut self, v: &Value, key: Option<&str>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    self.discover(x, Some(k));
                }
            }
            Value::Array(a) => {
                for x in a {
                    self.discover(x, key);
                }
            }
            _ => {
                if matches!(key, Some("ID" | "id" | "lease" | "lease_id")) {
                    let n = v
                        .as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                    if let Some(n) = n {
                        if n != 0 && n != self.id.member_id && n != self.id.cluster_id {
                            self.lease(n);
                        }
                    }
                }
            }
        }
    }

    fn rebuild_tokens(&mut self) {
        let mut t: Vec<(String, String)> = Vec::new();
        let mut ids = vec![
            (self.id.cluster_id, "<cluster-id>".to_string()),
            (self.id.member_id, "<member-id>".to_string()),
        ];
        ids.extend(self.leases.iter().map(|(v, p)| (*v, p.clone())));
        for (v, p) in ids {
            if v == 0 {
                continue;
            }
            t.push((v.to_string(), p.clone()));
            t.push((format!("{v:x}"), p.clone()));
            t.push((format!("{v:016x}"), p.clone()));
        }
        if let Some(peer) = &self.id.peer_url {
            t.push((peer.clone(), "<peer-url>".into()));
        }
        t.push((self.id.endpoint.clone(), "<endpoint>".into()));
        if !self.id.version.is_empty() {
            t.push((self.id.version.clone(), "<server-version>".into()));
        }
        t.sort_by_key(|(tok, _)| std::cmp::Reverse(tok.len()));
        t.dedup_by(|a, b| a.0 == b.0);
        self.tokens = t;
    }

    /// Replaces every token bounded by non-alphanumeric characters.
    fn tokens_in(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (tok, rep) in &self.tokens {
            s = replace_token(&s, tok, rep);
        }
        s
    }

    pub fn section(&self, text: &str) -> String {
        let mut lines: Vec<String> = Vec::new();
        let mut table_header: Option<Vec<String>> = None;
        let has_granted_ttl = text.contains("\"GrantedTTL\"");
        for raw in text.lines() {
            let line = raw.trim_end();
            let trimmed = line.trim();
            // JSON documents (etcdctl -w json, gateway bodies, python output,
            // etcdctl's own zap log lines).
            if (trimmed.starts_with('{') || trimmed.starts_with('['))
                && serde_json::from_str::<Value>(trimmed).is_ok()
            {
                let v: Value = serde_json::from_str(trimmed).expect("checked");
                lines.push(self.json(v, None, false).to_string());
                continue;
            }
            // Tables: borders dropped (their width follows the contents),
            // cells trimmed, opaque columns replaced.
            if trimmed.starts_with('+') && trimmed.ends_with('+') {
                continue;
            }
            if trimmed.starts_with('|') && trimmed.ends_with('|') && trimmed.len() > 1 {
                let cells: Vec<String> = trimmed[1..trimmed.len() - 1]
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect();
                match &table_header {
                    None => {
                        lines.push(cells.join(" | "));
                        table_header = Some(cells);
                    }
                    Some(h) => {
                        let row: Vec<String> = cells
                            .iter()
                            .enumerate()
                            .map(|(i, c)| {
                                let col = h.get(i).map(String::as_str).unwrap_or("");
                                if TABLE_OPAQUE.contains(&col) && !c.is_empty() {
                                    format!("<{}>", col.to_lowercase().replace(' ', "-"))
                                } else {
                                    self.tokens_in(c)
                                }
                            })
                            .collect();
                        lines.push(row.join(" | "));
                    }
                }
                continue;
            }
            // -w fields: "Name" : value
            if let Some(rest) = trimmed.strip_prefix('"') {
                if let Some((name, value)) = rest.split_once("\" : ") {
                    let opaque = FIELDS_OPAQUE.contains(&name)
                        || (name == "Version" && value.starts_with('"'))
                        || (name == "TTL" && has_granted_ttl && value != "-1");
                    if opaque {
                        lines.push(format!("\"{name}\" : <{}>", name.to_lowercase()));
                    } else {
                        lines.push(format!("\"{name}\" : {}", self.tokens_in(value)));
                    }
                    continue;
                }
            }
            let mut l = self.tokens_in(line);
            l = replace_after(&l, "took = ", "<duration>");
            l = replace_paren(&l, "remaining(", "<ttl>");
            l = sort_attached_keys(&l);
            l = self.simple_status_line(&l);
            lines.push(l);
        }
        lines.join("\n")
    }

    /// etcdctl's simple `endpoint status` / `endpoint hashkv` lines start
    /// with the endpoint: their sizes, raft numbers and hashes are opaque.
    fn simple_status_line(&self, l: &str) -> String {
        let starts = l.starts_with("<endpoint>, ") || l.starts_with("http://<endpoint>, ");
        if !starts {
            return l.to_string();
        }
        let mut f: Vec<String> = l.split(", ").map(str::to_string).collect();
        if f.len() >= 9 {
            // endpoint, id, version, db size, is leader, is learner, raft
            // term, raft index, raft applied index, errors
            f[3] = "<db-size>".into();
            f[6] = "<raft-term>".into();
            f[7] = "<raft-index>".into();
            f[8] = "<raft-applied-index>".into();
        } else if f.len() == 2 {
            f[1] = "<hash>".into();
        }
        f.join(", ")
    }

    fn json(&self, v: Value, key: Option<&str>, in_lease_ttl: bool) -> Value {
        match v {
            Value::Object(m) => {
                let lease_ttl = m.contains_key("grantedTTL") || m.contains_key("granted-ttl");
                Value::Object(
                    m.into_iter()
                        .map(|(k, x)| {
                            let x = self.json(x, Some(&k), lease_ttl);
                            (k, x)
                        })
                        .collect(),
                )
            }
            Value::Array(a) => {
                let mut a: Vec<Value> = a
                    .into_iter()
                    .map(|x| self.json(x, key, in_lease_ttl))
                    .collect();
                // A lease's attached keys come from a Go map in etcd: their
                // order changes from run to run.
                if key == Some("keys") {
                    a.sort_by_key(|e| e.to_string());
                }
                Value::Array(a)
            }
            other => {
                let k = key.unwrap_or("");
                if JSON_OPAQUE.contains(&k) && !other.is_null() {
                    return Value::String(format!("<{k}>"));
                }
                if k == "version" && other.as_str().is_some_and(|s| s.contains('.')) {
                    return Value::String("<server-version>".into());
                }
                if matches!(k, "ttl" | "TTL") && in_lease_ttl {
                    let n = other
                        .as_i64()
                        .or_else(|| other.as_str().and_then(|s| s.parse().ok()));
                    if n != Some(-1) {
                        return Value::String("<remaining-ttl>".into());
                    }
                }
                match other {
                    Value::String(s) => {
                        if matches!(k, "key" | "value" | "keys" | "range_end") {
                            if let Some(decoded) = b64_decode(&s) {
                                if let Ok(text) = String::from_utf8(decoded) {
                                    let n = self.tokens_in(&text);
                                    if n != text {
                                        return Value::String(b64_encode(n.as_bytes()));
                                    }
                                }
                            }
                        }
                        Value::String(self.tokens_in(&s))
                    }
                    Value::Number(num) => {
                        let s = num.to_string();
                        let n = self.tokens_in(&s);
                        if n != s {
                            Value::String(n)
                        } else {
                            Value::Number(num)
                        }
                    }
                    o => o,
                }
            }
        }
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

pub fn replace_token(s: &str, tok: &str, rep: &str) -> String {
    if tok.is_empty() || !s.contains(tok) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut pos = 0;
    while let Some(off) = s[pos..].find(tok) {
        let i = pos + off;
        let end = i + tok.len();
        let before = s[..i].chars().next_back();
        let after = s[end..].chars().next();
        out.push_str(&s[pos..i]);
        if !before.is_some_and(is_word) && !after.is_some_and(is_word) {
            out.push_str(rep);
        } else {
            out.push_str(tok);
        }
        pos = end;
    }
    out.push_str(&s[pos..]);
    out
}

/// `took = 1.2ms ...` → `took = <duration> ...` (up to the next space).
fn replace_after(s: &str, marker: &str, rep: &str) -> String {
    match s.find(marker) {
        None => s.to_string(),
        Some(i) => {
            let start = i + marker.len();
            let end = s[start..].find(' ').map(|j| start + j).unwrap_or(s.len());
            format!("{}{}{}", &s[..start], rep, &s[end..])
        }
    }
}

/// `attached keys([b a])` → `attached keys([a b])` (etcd's order is a Go
/// map's).
fn sort_attached_keys(s: &str) -> String {
    let marker = "attached keys([";
    let Some(i) = s.find(marker) else {
        return s.to_string();
    };
    let start = i + marker.len();
    let Some(j) = s[start..].find("])") else {
        return s.to_string();
    };
    let mut keys: Vec<&str> = s[start..start + j].split(' ').collect();
    keys.sort_unstable();
    format!("{}{}{}", &s[..start], keys.join(" "), &s[start + j..])
}

/// `remaining(299s)` → `remaining(<ttl>)`.
fn replace_paren(s: &str, marker: &str, rep: &str) -> String {
    match s.find(marker) {
        None => s.to_string(),
        Some(i) => {
            let start = i + marker.len();
            match s[start..].find(')') {
                Some(j) => format!("{}{}{}", &s[..start], rep, &s[start + j..]),
                None => s.to_string(),
            }
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn b64_encode(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || s.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        let mut pad = 0;
        for &c in chunk {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => {
                    pad += 1;
                    0
                }
                _ => return None,
            };
            n = (n << 6) | u32::from(v);
        }
        let b = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&b[..3 - pad.min(2)]);
    }
    Some(out)
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// One side's result: raw output plus its normalized sections.
pub struct Side {
    pub kind: Kind,
    pub out: Output,
    pub normalized: Vec<(String, String)>,
    pub server_log: String,
}

impl Side {
    /// A section's raw text; panics with the whole output if missing.
    pub fn raw(&self, label: &str) -> &str {
        self.out.get(label).unwrap_or_else(|| {
            panic!(
                "{}: no section {label:?} (status {}, stderr:\n{})",
                self.kind.name(),
                self.out.status,
                self.out.stderr
            )
        })
    }
}

/// Self-checks on one side's raw output: each returns an error text.
pub struct Checks<'a> {
    side: &'a Side,
    /// Sections this side is not held to (known differences, etcq side).
    skip: Vec<&'static str>,
    pub errors: Vec<String>,
}

impl Checks<'_> {
    /// Which server these checks are looking at.
    pub fn kind(&self) -> Kind {
        self.side.kind
    }

    /// A section's raw text ("" when missing or skipped).
    pub fn side_raw(&mut self, label: &str) -> String {
        self.sec(label).unwrap_or_default()
    }

    fn sec(&mut self, label: &str) -> Option<String> {
        if self.skip.contains(&label) {
            return None;
        }
        match self.side.out.get(label) {
            Some(t) => Some(t.to_string()),
            None => {
                self.errors.push(format!("section {label:?} missing"));
                None
            }
        }
    }

    /// The section is exactly `want`.
    pub fn eq(&mut self, label: &str, want: &str) {
        if let Some(t) = self.sec(label) {
            if t != want {
                self.errors
                    .push(format!("{label}: expected\n{want}\n--- got\n{t}"));
            }
        }
    }

    /// The section contains `needle`.
    pub fn has(&mut self, label: &str, needle: &str) {
        if let Some(t) = self.sec(label) {
            if !t.contains(needle) {
                self.errors.push(format!(
                    "{label}: expected to contain {needle:?}\n--- got\n{t}"
                ));
            }
        }
    }

    /// The section does not contain `needle`.
    pub fn lacks(&mut self, label: &str, needle: &str) {
        if let Some(t) = self.sec(label) {
            if t.contains(needle) {
                self.errors.push(format!(
                    "{label}: expected not to contain {needle:?}\n--- got\n{t}"
                ));
            }
        }
    }

    /// The section's first JSON line, parsed.
    pub fn json(&mut self, label: &str) -> Value {
        let Some(t) = self.sec(label) else {
            return Value::Null;
        };
        for line in t.lines() {
            let l = line.trim();
            if l.starts_with('{') || l.starts_with('[') || l == "true" || l == "false" {
                if let Ok(v) = serde_json::from_str::<Value>(l) {
                    if !(l.starts_with("{\"level\"")) {
                        return v;
                    }
                }
            }
        }
        self.errors.push(format!("{label}: no JSON in\n{t}"));
        Value::Null
    }

    /// A JSON value at `pointer` (RFC 6901) of the section's JSON equals
    /// `want` (numbers given as strings by the gateway compare equal).
    pub fn json_at(&mut self, label: &str, pointer: &str, want: Value) {
        if self.skip.contains(&label) {
            return;
        }
        let v = self.json(label);
        let got = v.pointer(pointer).cloned().unwrap_or(Value::Null);
        let same = got == want
            || (got.as_str().is_some()
                && got.as_str().map(str::to_string) == Some(want.to_string()))
            || (got.as_str().is_some() && got.as_str() == want.as_str());
        if !same {
            self.errors.push(format!(
                "{label}: at {pointer} expected {want}, got {got} in {v}"
            ));
        }
    }

    pub fn fail(&mut self, msg: String) {
        self.errors.push(msg);
    }
}

/// One scenario: a script, the checks each side must pass, compared.
pub struct Scenario {
    pub name: &'static str,
    pub lang: Lang,
    pub file: &'static str,
}

impl Scenario {
    pub fn sh(name: &'static str) -> Scenario {
        Scenario {
            name,
            lang: Lang::Sh,
            file: Box::leak(format!("{name}.sh").into_boxed_str()),
        }
    }

    pub fn python(name: &'static str) -> Scenario {
        Scenario {
            name,
            lang: Lang::Python,
            file: Box::leak(format!("{name}.py").into_boxed_str()),
        }
    }

    fn known(&self, label: &str) -> Option<(Ignore, &'static str)> {
        KNOWN_DIFFERENCES
            .iter()
            .find(|(s, l, _, _)| *s == self.name && *l == label)
            .map(|(_, _, what, why)| (*what, *why))
    }

    fn run_side(&self, kind: Kind) -> Side {
        let server = Server::start(kind);
        let id = Identity::learn(&server);
        let work = tempfile::tempdir().expect("tempdir");
        let out = run_script(self.lang, self.file, &server.endpoint(), work.path());
        let n = Normalizer::new(&id, &out);
        let normalized: Vec<(String, String)> = out
            .sections
            .iter()
            .map(|(l, t)| (l.clone(), n.section(t)))
            .collect();
        // ETCQ_COMPAT_DUMP=<dir>: both sides' raw and normalized sections,
        // for diffing by hand.
        if let Ok(dir) = std::env::var("ETCQ_COMPAT_DUMP") {
            let dir = Path::new(&dir);
            let _ = std::fs::create_dir_all(dir);
            let dump = |suffix: &str, secs: &[(String, String)]| {
                let text: String = secs
                    .iter()
                    .map(|(l, t)| format!("### {l}\n{t}\n"))
                    .collect();
                let file = dir.join(format!("{}.{}.{suffix}", self.name, kind.name()));
                let _ = std::fs::write(file, text);
            };
            dump("raw", &out.sections);
            dump("norm", &normalized);
        }
        Side {
            kind,
            out,
            normalized,
            server_log: server.log(),
        }
    }

    /// Runs the scenario on every side (in parallel), applies `checks` to
    /// each and compares etcq's normalized sections with etcd's. Panics
    /// with one report listing every failure.
    pub fn run(&self, checks: impl Fn(&mut Checks<'_>) + Sync) {
        let kinds = sides();
        let sides: Vec<Side> = std::thread::scope(|s| {
            let handles: Vec<_> = kinds
                .iter()
                .map(|&k| s.spawn(move || self.run_side(k)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("scenario side panicked"))
                .collect()
        });
        let mut report = String::new();
        for side in &sides {
            let name = side.kind.name();
            if !side.out.status.contains("exit status: 0") {
                report.push_str(&format!(
                    "\n== {name}: script {} ended with {}; stderr:\n{}\n",
                    self.file, side.out.status, side.out.stderr
                ));
            }
            if !side.out.preamble.trim().is_empty() {
                report.push_str(&format!(
                    "\n== {name}: output outside any section:\n{}\n",
                    side.out.preamble
                ));
            }
            let skip = if side.kind == Kind::Etcq {
                known_rows_for(self.name)
            } else {
                Vec::new()
            };
            let mut c = Checks {
                side,
                skip,
                errors: Vec::new(),
            };
            checks(&mut c);
            for e in c.errors {
                report.push_str(&format!("\n== {name} check failed: {e}\n"));
            }
        }
        let etcd = sides.iter().find(|s| s.kind == Kind::Etcd);
        let etcq = sides.iter().find(|s| s.kind == Kind::Etcq);
        // A KNOWN_DIFFERENCES row must name a section the scenario prints.
        if let Some(a) = etcd {
            for (s, l, _, _) in KNOWN_DIFFERENCES {
                if *s == self.name && a.out.get(l).is_none() {
                    report.push_str(&format!(
                        "\n== KNOWN_DIFFERENCES row ({s}, {l}) names no section of the scenario\n"
                    ));
                }
            }
        }
        let mut compared = 0;
        let mut known = 0;
        if let (Some(a), Some(b)) = (etcd, etcq) {
            let b_map: BTreeMap<&str, &str> = b
                .normalized
                .iter()
                .map(|(l, t)| (l.as_str(), t.as_str()))
                .collect();
            for (label, want) in &a.normalized {
                let mut want = want.clone();
                let mut b_text = b_map.get(label.as_str()).map(|t| t.to_string());
                // A known difference that no longer differs is a stale row
                // (order-only rows excepted: equal orders happen by chance).
                if let Some((what, _)) = self.known(label) {
                    let order_only = matches!(what, Ignore::Parts(p)
                        if p.iter().any(|x| x.starts_with("sort")));
                    if !order_only && b_text.as_deref() == Some(want.as_str()) {
                        report.push_str(&format!(
                            "\n== {label}: listed in KNOWN_DIFFERENCES but etcq now answers as etcd: remove the row (and its entry in docs/compatibility.md)\n"
                        ));
                    }
                }
                match self.known(label) {
                    Some((Ignore::Section, why)) => {
                        known += 1;
                        eprintln!(
                            "[{}] {label}: known difference, not compared ({why})",
                            self.name
                        );
                        continue;
                    }
                    Some((Ignore::Parts(parts), why)) => {
                        known += 1;
                        eprintln!(
                            "[{}] {label}: known difference, {parts:?} not compared ({why})",
                            self.name
                        );
                        want = strip_parts(&want, parts);
                        b_text = b_text.map(|t| strip_parts(&t, parts));
                    }
                    None => {}
                }
                compared += 1;
                let want = &want;
                match b_text.as_deref() {
                    None => report.push_str(&format!(
                        "\n== {label}: missing from etcq's output\n-- etcd:\n{want}\n"
                    )),
                    Some(got) if got != want => report.push_str(&format!(
                        "\n== {label}: etcq differs from etcd\n-- etcd:\n{want}\n-- etcq:\n{got}\n"
                    )),
                    Some(_) => {}
                }
            }
            for (label, _) in &b.normalized {
                if a.out.get(label).is_none() {
                    report.push_str(&format!("\n== {label}: only in etcq's output\n"));
                }
            }
        }
        eprintln!(
            "[{}] sides {:?}: {compared} sections compared, {known} known differences",
            self.name,
            kinds.iter().map(|k| k.name()).collect::<Vec<_>>()
        );
        if !report.is_empty() {
            if let Some(q) = etcq {
                let log = q.server_log.lines().rev().take(40).collect::<Vec<_>>();
                report.push_str("\n== etcq log (last lines):\n");
                for l in log.into_iter().rev() {
                    report.push_str(l);
                    report.push('\n');
                }
            }
            panic!("scenario {} failed:{report}", self.name);
        }
    }
}

/// The section labels of a scenario's KNOWN_DIFFERENCES rows.
pub fn known_rows_for(name: &str) -> Vec<&'static str> {
    KNOWN_DIFFERENCES
        .iter()
        .filter(|(s, _, what, _)| *s == name && matches!(what, Ignore::Section))
        .map(|(_, l, _, _)| *l)
        .collect()
}

/// Removes the parts a known difference ignores from a normalized section.
pub fn strip_parts(text: &str, parts: &[&str]) -> String {
    let mut lines: Vec<String> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if (t.starts_with('{') || t.starts_with('[')) && serde_json::from_str::<Value>(t).is_ok() {
            let mut v: Value = serde_json::from_str(t).expect("checked");
            for p in parts {
                if let Some(path) = p.strip_prefix("json:") {
                    let keys: Vec<&str> = path.split('.').collect();
                    drop_path(&mut v, &keys);
                } else if let Some(key) = p.strip_prefix("sort:") {
                    sort_arrays(&mut v, key);
                }
            }
            lines.push(v.to_string());
            continue;
        }
        let mut l = line.to_string();
        let mut keep = true;
        for p in parts {
            if let Some(name) = p.strip_prefix("field:") {
                if t.starts_with(&format!("\"{name}\" : ")) {
                    keep = false;
                }
            } else if let Some(tok) = p.strip_prefix("text:") {
                l = l.replace(tok, "");
            } else if let Some(mark) = p.strip_prefix("after:") {
                l = replace_after(&l, mark, "");
            }
        }
        if keep {
            lines.push(l);
        }
    }
    if parts.contains(&"sortlines") {
        lines.sort();
    }
    lines.join("\n")
}

fn sort_arrays(v: &mut Value, key: &str) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| sort_arrays(x, key)),
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == key {
                    if let Value::Array(a) = x {
                        a.sort_by_key(|e| e.to_string());
                    }
                }
                sort_arrays(x, key);
            }
        }
        _ => {}
    }
}

fn drop_path(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Array(a) => {
            for x in a {
                drop_path(x, keys);
            }
        }
        Value::Object(m) => {
            let Some((first, rest)) = keys.split_first() else {
                return;
            };
            if rest.is_empty() {
                if *first == "*" {
                    m.clear();
                } else {
                    m.remove(*first);
                }
                return;
            }
            for (k, x) in m.iter_mut() {
                if *first == "*" || k == first {
                    drop_path(x, rest);
                }
            }
        }
        _ => {}
    }
}
