//! The command line, as etcdctl v3 (3.4) spells it: the same command names,
//! flags and defaults. Only parsing lives here; what the flags mean for a
//! request is `request.rs`, and checks whose failure etcdctl reports with
//! its own text and exit code (missing key, `--prefix` with a range end,
//! ...) are done there too, not by clap, so the messages match.
//!
//! Keys and values are `OsString`s: on Unix any bytes pass through.

use std::{ffi::OsString, path::PathBuf, time::Duration};

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::golang;

/// etcqctl: etcdctl's interface to an etcq cluster.
#[derive(Debug, Parser)]
#[command(name = "etcqctl", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// etcdctl's global flags.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// gRPC-style endpoints: host:port or https://host:port, comma separated
    #[arg(
        long,
        global = true,
        env = "ETCDCTL_ENDPOINTS",
        value_delimiter = ',',
        default_value = "127.0.0.1:2379"
    )]
    pub endpoints: Vec<String>,
    /// Verify certificates of TLS-enabled secure servers using this CA bundle
    #[arg(long, global = true, env = "ETCDCTL_CACERT")]
    pub cacert: Option<PathBuf>,
    /// Identify secure client using this TLS certificate file
    #[arg(long, global = true, env = "ETCDCTL_CERT")]
    pub cert: Option<PathBuf>,
    /// Identify secure client using this TLS key file
    #[arg(long, global = true, env = "ETCDCTL_KEY")]
    pub key: Option<PathBuf>,
    /// username[:password] for authentication
    #[arg(long, global = true, env = "ETCDCTL_USER")]
    pub user: Option<String>,
    /// password for authentication (if this option is used, --user option shouldn't include password)
    #[arg(long, global = true, env = "ETCDCTL_PASSWORD")]
    pub password: Option<String>,
    /// Set the output format (fields, json, simple, table)
    #[arg(
        short = 'w',
        long = "write-out",
        global = true,
        env = "ETCDCTL_WRITE_OUT",
        default_value = "simple"
    )]
    pub write_out: String,
    /// Print byte strings as hex encoded strings
    #[arg(long, global = true)]
    pub hex: bool,
    /// Timeout for short running command (excluding dial timeout)
    #[arg(long, global = true, env = "ETCDCTL_COMMAND_TIMEOUT", default_value = "5s", value_parser = golang::parse_duration)]
    pub command_timeout: Duration,
    /// Dial timeout for client connections
    #[arg(long, global = true, env = "ETCDCTL_DIAL_TIMEOUT", default_value = "2s", value_parser = golang::parse_duration)]
    pub dial_timeout: Duration,
}

/// etcdctl's commands that etcqctl implements.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Puts the given key into the store
    Put(PutArgs),
    /// Gets the key or a range of keys
    Get(GetArgs),
    /// Removes the specified key or range of keys [key, range_end)
    Del(DelArgs),
    /// Txn processes all the requests in one transaction
    Txn(TxnArgs),
    /// Watches events stream on keys or prefixes
    Watch(WatchArgs),
    /// Compacts the event history in etcd
    Compaction(CompactionArgs),
    /// Lease related commands
    #[command(subcommand)]
    Lease(LeaseCommand),
    /// Endpoint related commands
    Endpoint(EndpointArgs),
    /// Enable or disable authentication
    #[command(subcommand)]
    Auth(AuthCommand),
    /// User related commands
    #[command(subcommand)]
    User(UserCommand),
    /// Role related commands
    #[command(subcommand)]
    Role(RoleCommand),
    /// Prints the version of etcqctl
    Version,
}

/// `put [options] <key> <value>` (value from stdin if absent).
#[derive(Debug, Clone, Default, Args)]
pub struct PutArgs {
    /// <key> [value]
    pub args: Vec<OsString>,
    /// lease ID (in hexadecimal) to attach to the key
    #[arg(long, default_value = "0")]
    pub lease: String,
    /// return the previous key-value pair before modification
    #[arg(long)]
    pub prev_kv: bool,
    /// updates the key using its current value
    #[arg(long)]
    pub ignore_value: bool,
    /// updates the key using its current lease
    #[arg(long)]
    pub ignore_lease: bool,
}

/// `get [options] <key> [range_end]`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// <key> [range_end]
    pub args: Vec<OsString>,
    /// Linearizable(l) or Serializable(s)
    #[arg(long, default_value = "l")]
    pub consistency: String,
    /// Order of results; ASCEND or DESCEND (ASCEND by default)
    #[arg(long, default_value = "")]
    pub order: String,
    /// Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION
    #[arg(long, default_value = "")]
    pub sort_by: String,
    /// Maximum number of results
    #[arg(long, default_value_t = 0)]
    pub limit: i64,
    /// Get keys with matching prefix
    #[arg(long)]
    pub prefix: bool,
    /// Get keys that are greater than or equal to the given key using byte compare
    #[arg(long)]
    pub from_key: bool,
    /// Specify the kv revision
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// Get only the keys
    #[arg(long)]
    pub keys_only: bool,
    /// Get only the count
    #[arg(long)]
    pub count_only: bool,
    /// Only write values when using the "simple" output format
    #[arg(long)]
    pub print_value_only: bool,
    /// Restrict results to kvs with modified revision greater or equal than the supplied revision
    #[arg(long, default_value_t = 0)]
    pub min_mod_rev: i64,
    /// Restrict results to kvs with modified revision less or equal than the supplied revision
    #[arg(long, default_value_t = 0)]
    pub max_mod_rev: i64,
    /// Restrict results to kvs with create revision greater or equal than the supplied revision
    #[arg(long, default_value_t = 0)]
    pub min_create_rev: i64,
    /// Restrict results to kvs with create revision less or equal than the supplied revision
    #[arg(long, default_value_t = 0)]
    pub max_create_rev: i64,
}

/// `del [options] <key> [range_end]`.
#[derive(Debug, Clone, Default, Args)]
pub struct DelArgs {
    /// <key> [range_end]
    pub args: Vec<OsString>,
    /// delete keys with matching prefix
    #[arg(long)]
    pub prefix: bool,
    /// return deleted key-value pairs
    #[arg(long)]
    pub prev_kv: bool,
    /// delete keys that are greater than or equal to the given key using byte compare
    #[arg(long)]
    pub from_key: bool,
}

/// `txn [options]`: the transaction is read from stdin.
#[derive(Debug, Clone, Args)]
pub struct TxnArgs {
    /// Input transaction in interactive mode
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// (none accepted; etcdctl refuses arguments with its own message)
    #[arg(hide = true)]
    pub args: Vec<OsString>,
}

/// `watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]`.
#[derive(Debug, Clone, Default, Args)]
pub struct WatchArgs {
    /// [key or prefix] [range_end]
    pub args: Vec<OsString>,
    /// Interactive mode
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Watch on a prefix if prefix is set
    #[arg(long)]
    pub prefix: bool,
    /// Revision to start watching
    #[arg(long, default_value_t = 0)]
    pub rev: i64,
    /// get the previous key-value pair before the event happens
    #[arg(long)]
    pub prev_kv: bool,
    /// get periodic watch progress notification from server
    #[arg(long)]
    pub progress_notify: bool,
    /// Command to run for each event, after `--`
    #[arg(last = true)]
    pub exec: Vec<OsString>,
}

/// `compaction [options] <revision>`.
#[derive(Debug, Clone, Args)]
pub struct CompactionArgs {
    /// <revision>
    pub args: Vec<String>,
    /// 'true' to wait for compaction to physically remove all old revisions
    #[arg(long)]
    pub physical: bool,
}

/// `lease <subcommand>`.
#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Creates leases
    Grant(LeaseIdArgs),
    /// Revokes leases
    Revoke(LeaseIdArgs),
    /// Get lease information
    Timetolive(LeaseTimeToLiveArgs),
    /// List all active leases
    List,
    /// Keeps leases alive (renew)
    KeepAlive(LeaseKeepAliveArgs),
}

/// A lease command's positional arguments (a TTL or a hex lease ID).
#[derive(Debug, Clone, Args)]
pub struct LeaseIdArgs {
    /// <ttl> or <leaseID>
    pub args: Vec<String>,
}

/// `lease timetolive [options] <leaseID>`.
#[derive(Debug, Clone, Args)]
pub struct LeaseTimeToLiveArgs {
    /// <leaseID>
    pub args: Vec<String>,
    /// Get keys attached to this lease
    #[arg(long)]
    pub keys: bool,
}

/// `lease keep-alive [options] <leaseID>`.
#[derive(Debug, Clone, Args)]
pub struct LeaseKeepAliveArgs {
    /// <leaseID>
    pub args: Vec<String>,
    /// Resets the keep-alive time to its original value and exits immediately
    #[arg(long)]
    pub once: bool,
}

/// `endpoint [--cluster] <subcommand>`.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// use all endpoints from the cluster member list
    #[arg(long, global = true)]
    pub cluster: bool,
    /// status or health
    #[command(subcommand)]
    pub command: EndpointCommand,
}

/// `endpoint <subcommand>`.
#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Checks the healthiness of endpoints specified in `--endpoints` flag
    Health,
    /// Prints out the status of endpoints specified in `--endpoints` flag
    Status,
}

/// `auth <subcommand>`.
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Enables authentication (creating the root role, and granting it to
    /// the root user, if missing)
    Enable(NoArgs),
    /// Disables authentication
    Disable(NoArgs),
}

/// A command that takes no positional arguments (etcdctl refuses them with
/// its own message, so they are collected here and checked later).
#[derive(Debug, Clone, Default, Args)]
pub struct NoArgs {
    /// (none accepted)
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// Names given as positional arguments (user or role names).
#[derive(Debug, Clone, Default, Args)]
pub struct NameArgs {
    /// <name> ...
    pub args: Vec<String>,
}

/// `user <subcommand>`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Adds a new user: `user add <user name or user:password>`
    ///
    /// etcqctl never prompts: give the password as `name:password` or with
    /// `--new-user-password`, pipe it on stdin with `--interactive=false`,
    /// or use `--no-password`.
    Add(UserAddArgs),
    /// Deletes a user: `user delete <user name>`
    Delete(NameArgs),
    /// Gets detailed information of a user: `user get <user name>`
    Get(UserGetArgs),
    /// Lists all users
    List(NoArgs),
    /// Changes password of user: `user passwd <user name> [password]`
    ///
    /// etcqctl never prompts: give the new password as the second argument
    /// (an etcqctl extension), or pipe it on stdin with `--interactive=false`
    /// as with etcdctl.
    Passwd(UserPasswdArgs),
    /// Grants a role to a user: `user grant-role <user name> <role name>`
    GrantRole(NameArgs),
    /// Revokes a role from a user: `user revoke-role <user name> <role name>`
    RevokeRole(NameArgs),
}

/// `user add [options] <user name or user:password>`.
#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// <user name or user:password>
    pub args: Vec<String>,
    /// Read password from stdin instead of interactive terminal (etcqctl
    /// does not prompt: `--interactive=false` reads the first word of stdin)
    #[arg(
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub interactive: bool,
    /// Supply password from the command line flag
    #[arg(long, default_value = "")]
    pub new_user_password: String,
    /// Create a user without password (CN based auth only)
    #[arg(long)]
    pub no_password: bool,
}

/// `user get [options] <user name>`.
#[derive(Debug, Clone, Args)]
pub struct UserGetArgs {
    /// <user name>
    pub args: Vec<String>,
    /// Show permissions of roles granted to the user
    #[arg(long)]
    pub detail: bool,
}

/// `user passwd [options] <user name> [password]`.
#[derive(Debug, Clone, Args)]
pub struct UserPasswdArgs {
    /// <user name> [password]
    pub args: Vec<String>,
    /// Read password from stdin instead of interactive terminal (etcqctl
    /// does not prompt: `--interactive=false` reads the first word of stdin)
    #[arg(
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub interactive: bool,
}

/// `role <subcommand>`.
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Adds a new role: `role add <role name>`
    Add(NameArgs),
    /// Deletes a role: `role delete <role name>`
    Delete(NameArgs),
    /// Gets detailed information of a role: `role get <role name>`
    Get(NameArgs),
    /// Lists all roles
    List(NoArgs),
    /// Grants a key to a role: `role grant-permission [options] <role name>
    /// <permission type> <key> [endkey]`
    ///
    /// The permission type is read, write or readwrite (any case).
    GrantPermission(RolePermArgs),
    /// Revokes a key from a role: `role revoke-permission [options] <role
    /// name> <key> [endkey]`
    RevokePermission(RolePermArgs),
}

/// The arguments of `role grant-permission` and `role revoke-permission`.
#[derive(Debug, Clone, Default, Args)]
pub struct RolePermArgs {
    /// grant: <role name> <permission type> <key> [endkey]; revoke: <role name> <key> [endkey]
    pub args: Vec<OsString>,
    /// the permission applies to every key with this prefix
    #[arg(long)]
    pub prefix: bool,
    /// the permission applies to keys that are greater than or equal to the
    /// given key using byte compare
    #[arg(long)]
    pub from_key: bool,
}

/// One request line of a `txn`: `put ...`, `get ...` or `del ...` with the
/// same flags as the standalone commands.
#[derive(Debug, Parser)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_help_subcommand = true
)]
pub struct TxnOpLine {
    /// The request.
    #[command(subcommand)]
    pub op: TxnOp,
}

/// A request inside a transaction.
#[derive(Debug, Subcommand)]
pub enum TxnOp {
    /// `put <key> <value>`
    Put(PutArgs),
    /// `get <key> [range_end]`
    Get(GetArgs),
    /// `del <key> [range_end]`
    Del(DelArgs),
}

/// One line of `watch -i`: `watch [options] <key> [range_end] [-- cmd...]`
/// or `progress`.
#[derive(Debug, Parser)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_help_subcommand = true
)]
pub struct WatchLine {
    /// The request.
    #[command(subcommand)]
    pub command: WatchLineCommand,
}

/// A request of interactive watch.
#[derive(Debug, Subcommand)]
pub enum WatchLineCommand {
    /// Start watching.
    Watch(WatchArgs),
    /// Ask for a progress notification.
    Progress,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
        TxnOpLine::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere_and_default_like_etcdctl() {
        let cli = Cli::try_parse_from(["etcqctl", "get", "foo", "-w", "json", "--prefix"])
            .expect("parses");
        assert_eq!(cli.global.write_out, "json");
        assert_eq!(cli.global.endpoints, vec!["127.0.0.1:2379".to_string()]);
        assert_eq!(cli.global.command_timeout, Duration::from_secs(5));
        assert_eq!(cli.global.dial_timeout, Duration::from_secs(2));
        match cli.command {
            Command::Get(get) => {
                assert!(get.prefix);
                assert_eq!(get.args, vec![OsString::from("foo")]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_after_lease_arguments_are_flags() {
        let cli =
            Cli::try_parse_from(["etcqctl", "lease", "grant", "5", "-w", "json"]).expect("parses");
        assert_eq!(cli.global.write_out, "json");
        match cli.command {
            Command::Lease(LeaseCommand::Grant(args)) => assert_eq!(args.args, ["5"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn endpoints_split_on_commas() {
        let cli = Cli::try_parse_from([
            "etcqctl",
            "--endpoints=127.0.0.1:2379,https://10.0.0.2:2379",
            "endpoint",
            "status",
        ])
        .expect("parses");
        assert_eq!(
            cli.global.endpoints,
            vec![
                "127.0.0.1:2379".to_string(),
                "https://10.0.0.2:2379".to_string()
            ]
        );
    }

    #[test]
    fn watch_takes_a_command_after_double_dash() {
        let cli = Cli::try_parse_from(["etcqctl", "watch", "foo", "--", "echo", "-n", "hi"])
            .expect("parses");
        match cli.command {
            Command::Watch(w) => {
                assert_eq!(w.args, vec![OsString::from("foo")]);
                assert_eq!(w.exec, ["echo", "-n", "hi"].map(OsString::from).to_vec());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auth_commands_parse_like_etcdctl() {
        let cli = Cli::try_parse_from([
            "etcqctl",
            "role",
            "grant-permission",
            "reader",
            "read",
            "a/",
            "--prefix",
            "-w",
            "json",
        ])
        .expect("parses");
        assert_eq!(cli.global.write_out, "json");
        match cli.command {
            Command::Role(RoleCommand::GrantPermission(p)) => {
                assert!(p.prefix && !p.from_key);
                assert_eq!(
                    p.args,
                    ["reader", "read", "a/"].map(OsString::from).to_vec()
                );
            }
            other => panic!("{other:?}"),
        }
        // `--interactive` is a Go bool flag: `=false` only, no separate value
        let cli = Cli::try_parse_from(["etcqctl", "user", "add", "bob", "--interactive=false"])
            .expect("parses");
        match cli.command {
            Command::User(UserCommand::Add(a)) => {
                assert!(!a.interactive && !a.no_password);
                assert_eq!(a.args, ["bob"]);
            }
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["etcqctl", "user", "passwd", "bob", "--interactive", "pw"])
            .expect("parses");
        match cli.command {
            Command::User(UserCommand::Passwd(a)) => {
                assert!(a.interactive);
                assert_eq!(a.args, ["bob", "pw"]);
            }
            other => panic!("{other:?}"),
        }
        let cli =
            Cli::try_parse_from(["etcqctl", "user", "get", "alice", "--detail"]).expect("parses");
        assert!(matches!(cli.command, Command::User(UserCommand::Get(g)) if g.detail));
        let cli = Cli::try_parse_from(["etcqctl", "auth", "enable", "--user", "root:pw"])
            .expect("parses");
        assert_eq!(cli.global.user.as_deref(), Some("root:pw"));
        assert!(matches!(cli.command, Command::Auth(AuthCommand::Enable(_))));
    }
}
