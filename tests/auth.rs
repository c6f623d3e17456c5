//! Auth over etcq/1: users, roles, permissions and the enabled flag survive
//! kill -9 (from the WAL tail and from a checkpoint); tokens do not (they
//! are memory-only, as etcd's simple tokens), so clients authenticate again
//! (a new connection here). An etcq/1 connection acts as the user of its
//! last successful Authenticate.

mod common;

use common::{b, refusal, Node};
use etcq_net::client::Client;
use etcq_net::method::{Code, Method};
use etcq_net::pb::{authpb, etcdserverpb as pb};

async fn call<Req: prost::Message, Resp: prost::Message + Default>(
    c: &Client,
    method: Method,
    req: Req,
) -> Resp {
    c.call(method, &req)
        .await
        .unwrap_or_else(|e| panic!("{method}: {e}"))
}

async fn authenticate(c: &Client, name: &str, password: &str) {
    let r: pb::AuthenticateResponse = call(
        c,
        Method::Authenticate,
        pb::AuthenticateRequest {
            name: name.into(),
            password: password.into(),
        },
    )
    .await;
    let (prefix, index) = r.token.split_once('.').expect("simple token: prefix.index");
    assert_eq!(prefix.len(), 16, "token {}", r.token);
    assert!(index.parse::<u64>().is_ok(), "token {}", r.token);
}

/// root (with the root role), bob with READWRITE on a/ and READ on b, then
/// auth enabled.
async fn set_up_auth(c: &Client) {
    for (name, password) in [("root", "rootpw"), ("bob", "bobpw")] {
        let _: pb::AuthUserAddResponse = call(
            c,
            Method::UserAdd,
            pb::AuthUserAddRequest {
                name: name.into(),
                password: password.into(),
                ..Default::default()
            },
        )
        .await;
    }
    let _: pb::AuthRoleAddResponse = call(
        c,
        Method::RoleAdd,
        pb::AuthRoleAddRequest { name: "rw".into() },
    )
    .await;
    for (t, key, end) in [
        (authpb::permission::Type::Readwrite, "a/", "a0"),
        (authpb::permission::Type::Read, "b", ""),
    ] {
        let _: pb::AuthRoleGrantPermissionResponse = call(
            c,
            Method::RoleGrantPermission,
            pb::AuthRoleGrantPermissionRequest {
                name: "rw".into(),
                perm: Some(authpb::Permission {
                    perm_type: t as i32,
                    key: b(key),
                    range_end: b(end),
                }),
            },
        )
        .await;
    }
    for (user, role) in [("bob", "rw"), ("root", "root")] {
        let _: pb::AuthUserGrantRoleResponse = call(
            c,
            Method::UserGrantRole,
            pb::AuthUserGrantRoleRequest {
                user: user.into(),
                role: role.into(),
            },
        )
        .await;
    }
    c.put(b("a/x"), b("1")).await.expect("put before enable");
    let _: pb::AuthEnableResponse = call(c, Method::AuthEnable, pb::AuthEnableRequest {}).await;
}

/// What must hold after any restart: auth still enabled, the same users,
/// roles and permissions, enforced.
async fn check_auth_state(node: &Node) {
    let anon = node.client().await;
    let e = refusal(anon.get(b("a/x")).await.expect_err("no user"));
    assert_eq!(
        e,
        (
            Code::InvalidArgument,
            "etcdserver: user name is empty".into()
        )
    );

    let bob = node.client().await;
    authenticate(&bob, "bob", "bobpw").await;
    let kv = bob.get(b("a/x")).await.expect("bob reads a/").expect("a/x");
    assert_eq!(kv.value, b("1"));
    bob.put(b("a/y"), b("2")).await.expect("bob writes a/");
    let e = refusal(bob.put(b("b"), b("2")).await.expect_err("b is read-only"));
    assert_eq!(
        e,
        (
            Code::PermissionDenied,
            "etcdserver: permission denied".into()
        )
    );
    let e = refusal(
        bob.call::<_, pb::AuthUserListResponse>(Method::UserList, &pb::AuthUserListRequest {})
            .await
            .expect_err("not root"),
    );
    assert_eq!(e.0, Code::PermissionDenied);

    let root = node.client().await;
    authenticate(&root, "root", "rootpw").await;
    let status: pb::AuthStatusResponse =
        call(&root, Method::AuthStatus, pb::AuthStatusRequest {}).await;
    assert!(status.enabled, "auth must stay enabled across a restart");
    let users: pb::AuthUserListResponse =
        call(&root, Method::UserList, pb::AuthUserListRequest {}).await;
    assert_eq!(users.users, vec!["bob".to_string(), "root".to_string()]);
    let role: pb::AuthRoleGetResponse = call(
        &root,
        Method::RoleGet,
        pb::AuthRoleGetRequest { role: "rw".into() },
    )
    .await;
    let perms: Vec<_> = role
        .perm
        .iter()
        .map(|p| (p.perm_type, p.key.clone(), p.range_end.clone()))
        .collect();
    assert_eq!(
        perms,
        vec![
            (authpb::permission::Type::Readwrite as i32, b("a/"), b("a0")),
            (authpb::permission::Type::Read as i32, b("b"), b("")),
        ]
    );
    let bob_roles: pb::AuthUserGetResponse = call(
        &root,
        Method::UserGet,
        pb::AuthUserGetRequest { name: "bob".into() },
    )
    .await;
    assert_eq!(bob_roles.roles, vec!["rw".to_string()]);
    root.put(b("c"), b("3"))
        .await
        .expect("root may write anything");
}

#[tokio::test]
async fn auth_state_survives_kill_9_from_the_wal() {
    let mut node = Node::start(&[]);
    let c = node.client().await;
    set_up_auth(&c).await;
    drop(c);
    node.restart();
    check_auth_state(&node).await;
}

#[tokio::test]
async fn auth_state_survives_kill_9_from_a_checkpoint() {
    // Checkpoints every few requests: the auth state is read back from the
    // checkpoint's meta blob, with a WAL tail after it.
    let mut node = Node::start(&["--snapshot-count", "3"]);
    let c = node.client().await;
    set_up_auth(&c).await;
    drop(c);
    node.restart();
    check_auth_state(&node).await;
    // Again, with the writes of the first check in the log.
    node.restart();
    check_auth_state(&node).await;
}

#[tokio::test]
async fn an_etcq1_connection_acts_as_the_user_of_its_last_authenticate() {
    let node = Node::start(&[]);
    let c = node.client().await;
    set_up_auth(&c).await;
    // `c` authenticated nobody: enabling auth left it without a user.
    let e = refusal(c.get(b("a/x")).await.expect_err("no user yet"));
    assert_eq!(e.1, "etcdserver: user name is empty");
    authenticate(&c, "bob", "bobpw").await;
    c.get(b("a/x")).await.expect("bob");
    let e = refusal(
        c.put(b("c"), b("1"))
            .await
            .expect_err("bob may not write c"),
    );
    assert_eq!(e.1, "etcdserver: permission denied");
    // Another connection is still nobody.
    let other = node.client().await;
    let e = refusal(other.get(b("a/x")).await.expect_err("no user"));
    assert_eq!(e.1, "etcdserver: user name is empty");
    // A failed Authenticate leaves the connection's user as it was.
    let e = refusal(
        c.call::<_, pb::AuthenticateResponse>(
            Method::Authenticate,
            &pb::AuthenticateRequest {
                name: "root".into(),
                password: "wrong".into(),
            },
        )
        .await
        .expect_err("wrong password"),
    );
    assert_eq!(
        e,
        (
            Code::InvalidArgument,
            "etcdserver: authentication failed, invalid user ID or password".into()
        )
    );
    c.get(b("a/x")).await.expect("still bob");
    authenticate(&c, "root", "rootpw").await;
    c.put(b("c"), b("1")).await.expect("root");
    // Root disables auth, which drops every token: the connection's token
    // is refused (as etcd refuses a stale token) until an Authenticate,
    // answered "not enabled", returns the connection to nobody.
    let _: pb::AuthDisableResponse = call(&c, Method::AuthDisable, pb::AuthDisableRequest {}).await;
    let e = refusal(c.get(b("a/x")).await.expect_err("dropped token"));
    assert_eq!(
        e,
        (
            Code::Unauthenticated,
            "etcdserver: invalid auth token".into()
        )
    );
    let e = refusal(
        c.call::<_, pb::AuthenticateResponse>(
            Method::Authenticate,
            &pb::AuthenticateRequest {
                name: "root".into(),
                password: "rootpw".into(),
            },
        )
        .await
        .expect_err("auth is disabled"),
    );
    assert_eq!(
        e,
        (
            Code::FailedPrecondition,
            "etcdserver: authentication is not enabled".into()
        )
    );
    c.get(b("a/x")).await.expect("open again");
    other.get(b("a/x")).await.expect("open for everyone");
}

/// etcqctl with etcdctl's `--user name:password` (and `--password`).
fn etcqctl(node: &Node, args: &[&str]) -> (i32, String) {
    let etcq = std::path::PathBuf::from(env!("CARGO_BIN_EXE_etcq"));
    let ctl = etcq.with_file_name("etcqctl");
    assert!(
        ctl.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        ctl.display()
    );
    let out = std::process::Command::new(ctl)
        .arg("--endpoints")
        .arg(node.addr.to_string())
        .arg("--cacert")
        .arg(node.ca())
        .args(args)
        .env("ETCQ_TRUST_DIR", node.dir.path().join("client-trust"))
        .output()
        .expect("run etcqctl");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn etcqctl_authenticates_with_user_and_password() {
    let node = Node::start(&[]);
    let c = node.client().await;
    set_up_auth(&c).await;
    assert_eq!(
        etcqctl(
            &node,
            &["--user", "bob:bobpw", "get", "a/x", "--print-value-only"]
        ),
        (0, "1\n".to_string())
    );
    assert_eq!(
        etcqctl(
            &node,
            &["--user", "bob", "--password", "bobpw", "put", "a/z", "2"]
        ),
        (0, "OK\n".to_string())
    );
    let (code, text) = etcqctl(&node, &["--user", "bob:bobpw", "put", "c", "1"]);
    assert_eq!(
        (code, text.trim()),
        (1, "Error: etcdserver: permission denied")
    );
    let (code, text) = etcqctl(&node, &["--user", "bob:wrong", "get", "a/x"]);
    assert_eq!(
        (code, text.trim()),
        (
            2,
            "Error: etcdserver: authentication failed, invalid user ID or password"
        )
    );
    let (code, text) = etcqctl(&node, &["get", "a/x"]);
    assert_eq!(
        (code, text.trim()),
        (1, "Error: etcdserver: user name is empty")
    );
}
