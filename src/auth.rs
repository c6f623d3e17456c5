//! Authentication and authorization: etcd 3.4's users, roles, key
//! permissions, the enabled flag and simple tokens.
//!
//! A deterministic state machine, like the lessor:
//! - replicated state (users with bcrypt hashes and roles, roles with key
//!   permissions, `enabled`, the auth revision) changes only by applying log
//!   entries, identically on every member, and is persisted in the MVCC
//!   checkpoint's meta blob next to the lessor's state ([`AuthStore::encode`]);
//! - simple tokens are memory-only, as etcd's are: the token string is chosen
//!   at apply time from a proposer-chosen random prefix and the entry's raft
//!   index (so it is the same on every member), and its idle deadline uses
//!   the "now" the caller passes in. After a restart clients authenticate
//!   again (etcd's clients do so on "invalid auth token").
//!
//! Passwords never reach this module: hashing and verifying (bcrypt, tens
//! of milliseconds of CPU) happen on the front core's blocking pool before
//! proposing, so apply stays cheap.
//!
//! Permission checks follow etcd's range semantics: a permission is a single
//! key (`range_end` empty), a range `[key, range_end)`, or from-key
//! (`range_end` = `"\0"`). A single-key request is allowed when one of the
//! user's permissions contains the key; a range request when the union of
//! the user's permissions covers the whole range without a gap.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use prost::Message;

use etcq_net::pb::authpb;
use etcq_net::pb::etcdserverpb as pb;

use crate::config::{
    AUTH_PERMISSIONS_PER_ROLE_MAX, AUTH_ROLES_MAX, AUTH_ROLES_PER_USER_MAX, AUTH_TOKENS_MAX,
    AUTH_TOKEN_TTL_MS, AUTH_USERS_MAX,
};
use crate::errors::{self, Code, EtcdError};

/// The all-powerful user and role names.
pub const ROOT: &str = "root";

/// What a request wants to do with keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The replicated auth state as persisted (prost, in the checkpoint meta).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AuthState {
    #[prost(bool, tag = "1")]
    pub enabled: bool,
    #[prost(uint64, tag = "2")]
    pub revision: u64,
    #[prost(message, repeated, tag = "3")]
    pub users: Vec<authpb::User>,
    #[prost(message, repeated, tag = "4")]
    pub roles: Vec<authpb::Role>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct User {
    /// bcrypt hash; `None` for a user added with `no_password`.
    hash: Option<String>,
    roles: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct Token {
    user: String,
    deadline_ms: u64,
}

/// Users, roles, the enabled flag and the live tokens of one shard.
#[derive(Debug, Default)]
pub struct AuthStore {
    enabled: bool,
    revision: u64,
    users: BTreeMap<String, User>,
    /// Permissions of each role, sorted by (key, range_end) as etcd keeps them.
    roles: BTreeMap<String, Vec<authpb::Permission>>,
    tokens: HashMap<String, Token>,
}

/// One end of a permission interval; `Unbounded` sorts after every key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum End<'a> {
    Key(std::borrow::Cow<'a, [u8]>),
    Unbounded,
}

/// The half-open interval `[begin, end)` a permission grants.
fn interval(p: &authpb::Permission) -> (&[u8], End<'_>) {
    let end = match p.range_end.as_ref() {
        [] => {
            // A single key: [key, key + "\0").
            let mut next = p.key.to_vec();
            next.push(0);
            End::Key(next.into())
        }
        [0] => End::Unbounded,
        e => End::Key(e.into()),
    };
    (&p.key, end)
}

fn grants(p: &authpb::Permission, access: Access) -> bool {
    use authpb::permission::Type;
    match Type::try_from(p.perm_type) {
        Ok(Type::Readwrite) => true,
        Ok(Type::Read) => access == Access::Read,
        Ok(Type::Write) => access == Access::Write,
        Err(_) => false,
    }
}

/// Whether `perms` allow `access` to the key (`range_end` empty), the range
/// `[key, range_end)`, or every key from `key` on (`range_end` = `"\0"`).
pub fn permitted<'p>(
    perms: impl IntoIterator<Item = &'p authpb::Permission>,
    access: Access,
    key: &[u8],
    range_end: &[u8],
) -> bool {
    let ivls = perms
        .into_iter()
        .filter(|p| grants(p, access))
        .map(interval);
    if range_end.is_empty() {
        return ivls
            .into_iter()
            .any(|(b, e)| b <= key && End::Key(key.into()) < e);
    }
    let want_end = if range_end == [0] {
        End::Unbounded
    } else {
        End::Key(range_end.into())
    };
    if want_end <= End::Key(key.into()) {
        return false; // an empty range: etcd finds no covering interval either
    }
    let mut overlapping: Vec<_> = ivls
        .filter(|(b, e)| End::Key((*b).into()) < want_end && End::Key(key.into()) < *e)
        .collect();
    overlapping.sort_by(|a, b| a.0.cmp(b.0));
    // Sweep: `covered` is the end of the contiguous coverage from `key`.
    let mut covered = End::Key(key.into());
    for (b, e) in overlapping {
        if End::Key(b.into()) > covered {
            return false; // a gap before this interval
        }
        if e > covered {
            covered = e;
        }
        if covered >= want_end {
            return true;
        }
    }
    covered >= want_end
}

fn too_many(what: &str, max: usize) -> EtcdError {
    EtcdError::new(
        Code::ResourceExhausted,
        format!("etcq: too many {what} (limit {max})"),
    )
}

impl AuthStore {
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    fn bump(&mut self) {
        self.revision += 1;
    }

    fn has_root_role(&self, user: &str) -> bool {
        self.users.get(user).is_some_and(|u| u.roles.contains(ROOT))
    }

    /// The user a request's token names, refreshing the token's deadline.
    /// `Ok(None)`: no token. A token that is unknown or expired is refused,
    /// as etcd refuses it (also while auth is disabled: disabling drops
    /// every token).
    pub fn caller(
        &mut self,
        token: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<String>, EtcdError> {
        let Some(token) = token else { return Ok(None) };
        match self.tokens.get_mut(token) {
            Some(t) if t.deadline_ms > now_ms => {
                t.deadline_ms = now_ms + AUTH_TOKEN_TTL_MS;
                Ok(Some(t.user.clone()))
            }
            Some(_) => {
                self.tokens.remove(token);
                Err(errors::invalid_auth_token())
            }
            None => Err(errors::invalid_auth_token()),
        }
    }

    /// Checks that `user` may do `access` on the key or range (etcd's
    /// IsRangePermitted / IsPutPermitted / IsDeleteRangePermitted).
    pub fn check_keys(
        &self,
        user: Option<&str>,
        access: Access,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), EtcdError> {
        if !self.enabled {
            return Ok(());
        }
        let name = user.ok_or_else(errors::user_empty)?;
        let Some(u) = self.users.get(name) else {
            return Err(errors::permission_denied());
        };
        if u.roles.contains(ROOT) {
            return Ok(());
        }
        let perms = u.roles.iter().filter_map(|r| self.roles.get(r)).flatten();
        if permitted(perms, access, key, range_end) {
            Ok(())
        } else {
            Err(errors::permission_denied())
        }
    }

    /// Checks that `user` holds the root role (etcd's IsAdminPermitted).
    pub fn check_admin(&self, user: Option<&str>) -> Result<(), EtcdError> {
        if !self.enabled {
            return Ok(());
        }
        let name = user.ok_or_else(errors::user_empty)?;
        if self.has_root_role(name) {
            Ok(())
        } else {
            Err(errors::permission_denied())
        }
    }

    /// UserGet: root, or the user asking about itself.
    pub fn check_user_get(&self, user: Option<&str>, name: &str) -> Result<(), EtcdError> {
        match self.check_admin(user) {
            Err(_) if user == Some(name) => Ok(()),
            r => r,
        }
    }

    /// RoleGet: root, or a user holding that role.
    pub fn check_role_get(&self, user: Option<&str>, role: &str) -> Result<(), EtcdError> {
        match self.check_admin(user) {
            Err(_)
                if user
                    .and_then(|u| self.users.get(u))
                    .is_some_and(|u| u.roles.contains(role)) =>
            {
                Ok(())
            }
            r => r,
        }
    }

    /// The password hash of `name` for Authenticate, with the revision it
    /// was read at (the token is only assigned if nothing changed since).
    pub fn password_of(&self, name: &str) -> Result<(String, u64), EtcdError> {
        if !self.enabled {
            return Err(errors::auth_not_enabled());
        }
        let u = self.users.get(name).ok_or_else(errors::auth_failed)?;
        match &u.hash {
            Some(h) => Ok((h.clone(), self.revision)),
            None => Err(errors::no_password_user()),
        }
    }

    // --- applied from the log ---

    pub fn enable(&mut self) -> Result<(), EtcdError> {
        if self.enabled {
            return Ok(());
        }
        let root = self
            .users
            .get(ROOT)
            .ok_or_else(errors::root_user_not_exist)?;
        if !root.roles.contains(ROOT) {
            return Err(errors::root_role_not_exist());
        }
        self.enabled = true;
        self.tokens.clear();
        self.bump();
        Ok(())
    }

    pub fn disable(&mut self) {
        if !self.enabled {
            return;
        }
        self.enabled = false;
        self.tokens.clear();
        self.bump();
    }

    /// `hash` is `None` for a `no_password` user.
    pub fn user_add(&mut self, name: &str, hash: Option<String>) -> Result<(), EtcdError> {
        if name.is_empty() {
            return Err(errors::user_empty());
        }
        if self.users.contains_key(name) {
            return Err(errors::user_already_exist());
        }
        if self.users.len() >= AUTH_USERS_MAX {
            return Err(too_many("users", AUTH_USERS_MAX));
        }
        self.users.insert(
            name.to_string(),
            User {
                hash,
                roles: BTreeSet::new(),
            },
        );
        self.bump();
        Ok(())
    }

    pub fn user_delete(&mut self, name: &str) -> Result<(), EtcdError> {
        if self.enabled && name == ROOT {
            return Err(errors::invalid_auth_mgmt());
        }
        self.users.remove(name).ok_or_else(errors::user_not_found)?;
        self.tokens.retain(|_, t| t.user != name);
        self.bump();
        Ok(())
    }

    pub fn user_change_password(&mut self, name: &str, hash: String) -> Result<(), EtcdError> {
        let u = self
            .users
            .get_mut(name)
            .ok_or_else(errors::user_not_found)?;
        u.hash = Some(hash);
        self.tokens.retain(|_, t| t.user != name);
        self.bump();
        Ok(())
    }

    pub fn user_grant_role(&mut self, name: &str, role: &str) -> Result<(), EtcdError> {
        if !self.users.contains_key(name) {
            return Err(errors::user_not_found());
        }
        if role != ROOT && !self.roles.contains_key(role) {
            return Err(errors::role_not_found());
        }
        let u = self.users.get_mut(name).expect("checked above");
        if u.roles.contains(role) {
            return Ok(()); // etcd 3.4 answers success and changes nothing
        }
        if u.roles.len() >= AUTH_ROLES_PER_USER_MAX {
            return Err(too_many("roles for one user", AUTH_ROLES_PER_USER_MAX));
        }
        u.roles.insert(role.to_string());
        self.bump();
        Ok(())
    }

    pub fn user_revoke_role(&mut self, name: &str, role: &str) -> Result<(), EtcdError> {
        if self.enabled && name == ROOT && role == ROOT {
            return Err(errors::invalid_auth_mgmt());
        }
        let u = self
            .users
            .get_mut(name)
            .ok_or_else(errors::user_not_found)?;
        if !u.roles.remove(role) {
            return Err(errors::role_not_granted());
        }
        self.bump();
        Ok(())
    }

    pub fn role_add(&mut self, name: &str) -> Result<(), EtcdError> {
        if name.is_empty() {
            return Err(errors::role_empty());
        }
        if self.roles.contains_key(name) {
            return Err(errors::role_already_exist());
        }
        if self.roles.len() >= AUTH_ROLES_MAX {
            return Err(too_many("roles", AUTH_ROLES_MAX));
        }
        self.roles.insert(name.to_string(), Vec::new());
        self.bump();
        Ok(())
    }

    pub fn role_delete(&mut self, name: &str) -> Result<(), EtcdError> {
        if self.enabled && name == ROOT {
            return Err(errors::invalid_auth_mgmt());
        }
        self.roles.remove(name).ok_or_else(errors::role_not_found)?;
        for u in self.users.values_mut() {
            u.roles.remove(name);
        }
        self.bump();
        Ok(())
    }

    pub fn role_grant_permission(
        &mut self,
        name: &str,
        perm: authpb::Permission,
    ) -> Result<(), EtcdError> {
        let perms = self
            .roles
            .get_mut(name)
            .ok_or_else(errors::role_not_found)?;
        match perms
            .iter_mut()
            .find(|p| p.key == perm.key && p.range_end == perm.range_end)
        {
            Some(p) => p.perm_type = perm.perm_type,
            None => {
                if perms.len() >= AUTH_PERMISSIONS_PER_ROLE_MAX {
                    return Err(too_many(
                        "permissions for one role",
                        AUTH_PERMISSIONS_PER_ROLE_MAX,
                    ));
                }
                perms.push(perm);
                perms.sort_by(|a, b| (&a.key, &a.range_end).cmp(&(&b.key, &b.range_end)));
            }
        }
        self.bump();
        Ok(())
    }

    pub fn role_revoke_permission(
        &mut self,
        name: &str,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), EtcdError> {
        let perms = self
            .roles
            .get_mut(name)
            .ok_or_else(errors::role_not_found)?;
        let before = perms.len();
        perms.retain(|p| !(p.key == key && p.range_end == range_end));
        if perms.len() == before {
            return Err(errors::permission_not_granted());
        }
        self.bump();
        Ok(())
    }

    /// Assigns `token` to `name` (applied Authenticate). `checked_revision`
    /// is the revision the password was verified at: a change since (a new
    /// password, a deleted user) refuses the assignment.
    pub fn assign_token(
        &mut self,
        name: &str,
        checked_revision: u64,
        token: String,
        now_ms: u64,
    ) -> Result<String, EtcdError> {
        if !self.enabled {
            return Err(errors::auth_not_enabled());
        }
        if !self.users.contains_key(name) || checked_revision != self.revision {
            return Err(errors::auth_failed());
        }
        if self.tokens.len() >= AUTH_TOKENS_MAX {
            self.tokens.retain(|_, t| t.deadline_ms > now_ms);
        }
        if self.tokens.len() >= AUTH_TOKENS_MAX {
            let oldest = self
                .tokens
                .iter()
                .min_by_key(|(_, t)| t.deadline_ms)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.tokens.remove(&k);
            }
        }
        self.tokens.insert(
            token.clone(),
            Token {
                user: name.to_string(),
                deadline_ms: now_ms + AUTH_TOKEN_TTL_MS,
            },
        );
        Ok(token)
    }

    // --- reads ---

    pub fn user_get(&self, name: &str) -> Result<Vec<String>, EtcdError> {
        self.users
            .get(name)
            .map(|u| u.roles.iter().cloned().collect())
            .ok_or_else(errors::user_not_found)
    }

    pub fn user_list(&self) -> Vec<String> {
        self.users.keys().cloned().collect()
    }

    pub fn role_get(&self, name: &str) -> Result<Vec<authpb::Permission>, EtcdError> {
        self.roles
            .get(name)
            .cloned()
            .ok_or_else(errors::role_not_found)
    }

    pub fn role_list(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    pub fn status(&self) -> pb::AuthStatusResponse {
        pb::AuthStatusResponse {
            header: None,
            enabled: self.enabled,
            auth_revision: self.revision,
        }
    }

    // --- persistence ---

    /// The replicated state (tokens are not part of it).
    pub fn encode(&self) -> Vec<u8> {
        let state = AuthState {
            enabled: self.enabled,
            revision: self.revision,
            users: self
                .users
                .iter()
                .map(|(name, u)| authpb::User {
                    name: Bytes::copy_from_slice(name.as_bytes()),
                    password: u.hash.clone().map(Bytes::from).unwrap_or_default(),
                    roles: u.roles.iter().cloned().collect(),
                    options: Some(authpb::UserAddOptions {
                        no_password: u.hash.is_none(),
                    }),
                })
                .collect(),
            roles: self
                .roles
                .iter()
                .map(|(name, perms)| authpb::Role {
                    name: Bytes::copy_from_slice(name.as_bytes()),
                    key_permission: perms.clone(),
                })
                .collect(),
        };
        state.encode_to_vec()
    }

    /// Restores the state written by [`AuthStore::encode`] (empty: none).
    pub fn decode(&mut self, bytes: &[u8]) -> Result<(), String> {
        *self = AuthStore::default();
        if bytes.is_empty() {
            return Ok(());
        }
        let state = AuthState::decode(bytes).map_err(|e| format!("auth state: {e}"))?;
        let name = |b: &[u8]| {
            String::from_utf8(b.to_vec()).map_err(|_| "auth state: a name is not UTF-8".to_string())
        };
        self.enabled = state.enabled;
        self.revision = state.revision;
        for u in state.users {
            let no_password = u.options.is_some_and(|o| o.no_password);
            let hash = if no_password {
                None
            } else {
                Some(name(&u.password)?)
            };
            self.users.insert(
                name(&u.name)?,
                User {
                    hash,
                    roles: u.roles.into_iter().collect(),
                },
            );
        }
        for r in state.roles {
            self.roles.insert(name(&r.name)?, r.key_permission);
        }
        Ok(())
    }
}

/// A random simple-token prefix (etcd's: 16 letters), chosen by the proposer.
pub fn token_prefix() -> String {
    use rand::Rng;
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut rng = rand::thread_rng();
    (0..16)
        .map(|_| LETTERS[rng.gen_range(0..LETTERS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use authpb::permission::Type;

    fn perm(t: Type, key: &str, end: &[u8]) -> authpb::Permission {
        authpb::Permission {
            perm_type: t as i32,
            key: Bytes::copy_from_slice(key.as_bytes()),
            range_end: Bytes::copy_from_slice(end),
        }
    }

    fn check(perms: &[authpb::Permission], access: Access, key: &str, end: &[u8]) -> bool {
        permitted(perms, access, key.as_bytes(), end)
    }

    #[test]
    fn a_single_key_permission_allows_that_key_only() {
        let p = [perm(Type::Read, "b", b"")];
        assert!(check(&p, Access::Read, "b", b""));
        assert!(!check(&p, Access::Read, "b0", b""));
        assert!(!check(&p, Access::Read, "a", b""));
        assert!(!check(&p, Access::Write, "b", b""));
        // A range that holds only "b" is covered: [b, b\0).
        assert!(check(&p, Access::Read, "b", b"b\0"));
        assert!(!check(&p, Access::Read, "b", b"c"));
    }

    #[test]
    fn a_prefix_permission_covers_keys_and_subranges_of_the_prefix() {
        let p = [perm(Type::Readwrite, "a/", b"a0")];
        assert!(check(&p, Access::Read, "a/x", b""));
        assert!(check(&p, Access::Write, "a/", b""));
        assert!(check(&p, Access::Read, "a/", b"a0"));
        assert!(check(&p, Access::Read, "a/b", b"a/c"));
        assert!(!check(&p, Access::Read, "a", b""));
        assert!(!check(&p, Access::Read, "a0", b""));
        assert!(!check(&p, Access::Read, "a", b"a0"));
        assert!(!check(&p, Access::Read, "a/", b"b"));
        assert!(!check(&p, Access::Read, "a/", b"\0"));
    }

    #[test]
    fn a_from_key_permission_covers_everything_after_its_key() {
        let p = [perm(Type::Write, "c", b"\0")];
        assert!(check(&p, Access::Write, "c", b""));
        assert!(check(&p, Access::Write, "zzz", b""));
        assert!(check(&p, Access::Write, "c", b"\0"));
        assert!(check(&p, Access::Write, "d", b"e"));
        assert!(!check(&p, Access::Write, "b", b""));
        assert!(!check(&p, Access::Write, "b", b"\0"));
        assert!(!check(&p, Access::Read, "d", b""));
    }

    #[test]
    fn adjacent_permissions_cover_a_range_together_and_a_gap_does_not() {
        let p = [perm(Type::Read, "a", b"c"), perm(Type::Read, "c", b"e")];
        assert!(check(&p, Access::Read, "b", b"d"));
        assert!(check(&p, Access::Read, "a", b"e"));
        let gap = [perm(Type::Read, "a", b"c"), perm(Type::Read, "d", b"e")];
        assert!(!check(&gap, Access::Read, "b", b"e"));
        assert!(check(&gap, Access::Read, "d", b""));
        assert!(!check(&gap, Access::Read, "c", b""));
        // A key permission fills the hole at exactly that key.
        let filled = [
            perm(Type::Read, "a", b"c"),
            perm(Type::Read, "c", b""),
            perm(Type::Read, "c\0", b"e"),
        ];
        assert!(check(&filled, Access::Read, "a", b"e"));
    }

    #[test]
    fn an_empty_range_is_not_permitted() {
        let p = [perm(Type::Read, "", b"\0")];
        assert!(check(&p, Access::Read, "", b"\0"));
        assert!(!check(&p, Access::Read, "b", b"a"));
    }

    fn store_with_reader() -> AuthStore {
        let mut a = AuthStore::default();
        a.user_add(ROOT, Some("h".into())).expect("root");
        a.user_add("bob", Some("h".into())).expect("bob");
        a.role_add("rd").expect("role");
        a.role_grant_permission("rd", perm(Type::Read, "a/", b"a0"))
            .expect("grant");
        a.user_grant_role("bob", "rd").expect("grant role");
        a
    }

    #[test]
    fn enable_needs_root_with_the_root_role() {
        let mut a = AuthStore::default();
        assert_eq!(a.enable(), Err(errors::root_user_not_exist()));
        a.user_add(ROOT, None).expect("root");
        assert_eq!(a.enable(), Err(errors::root_role_not_exist()));
        a.user_grant_role(ROOT, ROOT)
            .expect("root role needs no RoleAdd");
        assert_eq!(a.enable(), Ok(()));
        assert_eq!(a.user_delete(ROOT), Err(errors::invalid_auth_mgmt()));
        assert_eq!(
            a.user_revoke_role(ROOT, ROOT),
            Err(errors::invalid_auth_mgmt())
        );
    }

    #[test]
    fn checks_apply_only_while_enabled_and_root_may_do_anything() {
        let mut a = store_with_reader();
        assert_eq!(a.check_keys(None, Access::Write, b"x", b""), Ok(()));
        a.user_grant_role(ROOT, ROOT).expect("root role");
        a.enable().expect("enable");
        assert_eq!(
            a.check_keys(None, Access::Read, b"a/1", b""),
            Err(errors::user_empty())
        );
        assert_eq!(a.check_keys(Some("bob"), Access::Read, b"a/1", b""), Ok(()));
        assert_eq!(
            a.check_keys(Some("bob"), Access::Write, b"a/1", b""),
            Err(errors::permission_denied())
        );
        assert_eq!(a.check_keys(Some(ROOT), Access::Write, b"x", b"\0"), Ok(()));
        assert_eq!(a.check_admin(Some("bob")), Err(errors::permission_denied()));
        assert_eq!(a.check_user_get(Some("bob"), "bob"), Ok(()));
        assert_eq!(a.check_role_get(Some("bob"), "rd"), Ok(()));
        assert_eq!(
            a.check_role_get(Some("bob"), ROOT),
            Err(errors::permission_denied())
        );
    }

    #[test]
    fn tokens_expire_when_idle_and_die_with_a_password_change() {
        let mut a = store_with_reader();
        a.user_grant_role(ROOT, ROOT).expect("root role");
        a.enable().expect("enable");
        let rev = a.revision();
        let t = a
            .assign_token("bob", rev, "abc.7".into(), 0)
            .expect("token");
        assert_eq!(a.caller(Some(&t), 1_000), Ok(Some("bob".into())));
        // Used at 1 s: valid until 301 s.
        assert_eq!(
            a.caller(Some(&t), AUTH_TOKEN_TTL_MS + 500),
            Ok(Some("bob".into()))
        );
        assert_eq!(
            a.caller(Some(&t), 3 * AUTH_TOKEN_TTL_MS),
            Err(errors::invalid_auth_token())
        );
        let t = a
            .assign_token("bob", rev, "abc.8".into(), 0)
            .expect("token");
        a.user_change_password("bob", "h2".into()).expect("passwd");
        assert_eq!(a.caller(Some(&t), 1), Err(errors::invalid_auth_token()));
        // A password checked before the change does not get a token.
        assert_eq!(
            a.assign_token("bob", rev, "abc.9".into(), 0),
            Err(errors::auth_failed())
        );
    }

    #[test]
    fn deleting_a_role_revokes_it_from_users() {
        let mut a = store_with_reader();
        a.role_delete("rd").expect("delete");
        assert_eq!(a.user_get("bob"), Ok(vec![]));
    }

    #[test]
    fn granting_a_permission_again_updates_its_type() {
        let mut a = store_with_reader();
        a.role_grant_permission("rd", perm(Type::Write, "a/", b"a0"))
            .expect("regrant");
        let perms = a.role_get("rd").expect("role");
        assert_eq!(perms.len(), 1);
        assert_eq!(perms[0].perm_type, Type::Write as i32);
        assert_eq!(
            a.role_revoke_permission("rd", b"a/", b""),
            Err(errors::permission_not_granted())
        );
    }

    #[test]
    fn state_survives_encode_decode_without_tokens() {
        let mut a = store_with_reader();
        a.user_add("np", None).expect("no-password user");
        a.user_grant_role(ROOT, ROOT).expect("root role");
        a.enable().expect("enable");
        let rev = a.revision();
        a.assign_token("bob", rev, "t.1".into(), 0).expect("token");
        let mut b = AuthStore::default();
        b.decode(&a.encode()).expect("decode");
        assert!(b.is_enabled());
        assert_eq!(b.revision(), a.revision());
        assert_eq!(b.user_list(), a.user_list());
        assert_eq!(b.role_get("rd"), a.role_get("rd"));
        assert_eq!(b.users, a.users);
        assert_eq!(b.caller(Some("t.1"), 1), Err(errors::invalid_auth_token()));
    }
}
