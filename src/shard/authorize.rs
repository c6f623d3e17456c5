//! Who may do what: the raft core's auth checks before a request runs, and
//! the Auth service's requests.
//!
//! Checks run when a request reaches the raft core, against the applied
//! auth state (one member: nothing applied later can precede the request).
//! They follow etcd 3.4.23 as observed: KV requests need key permissions
//! (a txn's compares and reads need READ, its writes WRITE, nested txns
//! too); a put with a lease, and LeaseRevoke, need WRITE on every key
//! attached to the lease; Hash, HashKV, Defragment and Snapshot need root
//! (refused with etcd's plain `auth: ...` errors, code Unknown), as do
//! member changes and the Auth service's writes and lists. Compaction,
//! leases otherwise, Status, Alarm, MemberList and MoveLeader need nothing.

use etcq_net::pb::etcdserverpb as pb;
use etcq_storage::disk::Disk;

use super::{Shard, Waiter};
use crate::auth::{self, Access};
use crate::errors::{self, EtcdError};
use crate::mesh::{AuthRequest, AuthResponse, Reply, Request, Response};
use crate::proposal::{AssignToken, Op};

/// Maintenance RPCs whose refusals are etcd 3.4's plain auth errors.
fn is_maintenance(req: &Request) -> bool {
    matches!(
        req,
        Request::Hash(_) | Request::HashKv(_) | Request::Defragment(_) | Request::Snapshot(_)
    )
}

/// etcd 3.4's maintenance server returns the auth package's own errors.
fn maintenance_error(e: EtcdError) -> EtcdError {
    if e == errors::user_empty() {
        errors::maintenance_user_empty()
    } else if e == errors::invalid_auth_token() {
        errors::maintenance_invalid_auth_token()
    } else if e == errors::permission_denied() {
        errors::maintenance_permission_denied()
    } else {
        e
    }
}

/// A write of the Auth service: root only.
fn admin(
    a: &auth::AuthStore,
    user: Option<&str>,
    op: Op,
) -> Result<Op, Result<AuthResponse, EtcdError>> {
    a.check_admin(user).map(|()| op).map_err(Err)
}

impl<D: Disk> Shard<D> {
    /// Resolves the caller's token and checks that it may make `req` (the
    /// Auth service's own requests are checked in [`Shard::auth_request`]).
    /// Returns the caller's user name, if any.
    pub(super) fn authorize(
        &mut self,
        req: &Request,
        token: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<String>, EtcdError> {
        let user = match self.auth.caller(token, now_ms) {
            Ok(u) => u,
            Err(e) if is_maintenance(req) => return Err(maintenance_error(e)),
            Err(e) => return Err(e),
        };
        let u = user.as_deref();
        let a = &self.auth;
        match req {
            Request::Range(r) => a.check_keys(u, Access::Read, &r.key, &r.range_end)?,
            Request::Put(p) => self.check_put(u, p)?,
            Request::DeleteRange(d) => self.check_delete(u, d)?,
            Request::Txn(t) => self.check_txn(u, t)?,
            Request::LeaseRevoke(r) => self.check_lease_keys(u, r.id)?,
            r if is_maintenance(r) => a.check_admin(u).map_err(maintenance_error)?,
            Request::MemberAdd(_)
            | Request::MemberRemove(_)
            | Request::MemberUpdate(_)
            | Request::MemberPromote(_) => a.check_admin(u)?,
            _ => {}
        }
        Ok(user)
    }

    /// WRITE on every key attached to the lease (a user that could not
    /// revoke the lease may not attach keys to it either).
    fn check_lease_keys(&self, user: Option<&str>, lease: i64) -> Result<(), EtcdError> {
        if let Some(l) = self.lessor.get(lease) {
            for key in &l.keys {
                self.auth.check_keys(user, Access::Write, key, &[])?;
            }
        }
        Ok(())
    }

    fn check_put(&self, user: Option<&str>, p: &pb::PutRequest) -> Result<(), EtcdError> {
        self.auth.check_keys(user, Access::Write, &p.key, &[])?;
        if p.lease != 0 {
            self.check_lease_keys(user, p.lease)?;
        }
        if p.prev_kv {
            self.auth.check_keys(user, Access::Read, &p.key, &[])?;
        }
        Ok(())
    }

    fn check_delete(
        &self,
        user: Option<&str>,
        d: &pb::DeleteRangeRequest,
    ) -> Result<(), EtcdError> {
        self.auth
            .check_keys(user, Access::Write, &d.key, &d.range_end)?;
        if d.prev_kv {
            self.auth
                .check_keys(user, Access::Read, &d.key, &d.range_end)?;
        }
        Ok(())
    }

    /// READ for every compare and read, WRITE for every write, in both
    /// branches and nested txns (etcd 3.4 skips nested txns; we do not).
    fn check_txn(&self, user: Option<&str>, t: &pb::TxnRequest) -> Result<(), EtcdError> {
        use pb::request_op::Request as Q;
        for c in &t.compare {
            self.auth
                .check_keys(user, Access::Read, &c.key, &c.range_end)?;
        }
        for op in t.success.iter().chain(&t.failure) {
            match &op.request {
                Some(Q::RequestRange(r)) => {
                    self.auth
                        .check_keys(user, Access::Read, &r.key, &r.range_end)?
                }
                Some(Q::RequestPut(p)) => self.check_put(user, p)?,
                Some(Q::RequestDeleteRange(d)) => self.check_delete(user, d)?,
                Some(Q::RequestTxn(t)) => self.check_txn(user, t)?,
                None => {}
            }
        }
        Ok(())
    }

    /// Serves an Auth request: reads are answered from the applied state,
    /// writes proposed (answered once applied: `None`).
    pub(super) async fn auth_request(
        &mut self,
        w: Waiter,
        req: AuthRequest,
        user: Option<&str>,
    ) -> Option<Reply> {
        use AuthRequest as Q;
        use AuthResponse as R;
        let a = &self.auth;
        let proposal = match req {
            Q::Enable(r) => admin(a, user, Op::AuthEnable(r)),
            Q::Disable(r) => admin(a, user, Op::AuthDisable(r)),
            Q::UserAdd(r) => admin(a, user, Op::UserAdd(r)),
            Q::UserDelete(r) => admin(a, user, Op::UserDelete(r)),
            Q::UserChangePassword(r) => admin(a, user, Op::UserChangePassword(r)),
            Q::UserGrantRole(r) => admin(a, user, Op::UserGrantRole(r)),
            Q::UserRevokeRole(r) => admin(a, user, Op::UserRevokeRole(r)),
            Q::RoleAdd(r) => admin(a, user, Op::RoleAdd(r)),
            Q::RoleDelete(r) => admin(a, user, Op::RoleDelete(r)),
            Q::RoleGrantPermission(r) => admin(a, user, Op::RoleGrantPermission(r)),
            Q::RoleRevokePermission(r) => admin(a, user, Op::RoleRevokePermission(r)),
            Q::Authenticate {
                name,
                checked_revision,
            } => Ok(Op::AssignToken(AssignToken {
                name,
                checked_revision,
                prefix: auth::token_prefix(),
            })),
            // Reads.
            Q::Status(_) => Err(Ok(R::Status(a.status()))),
            Q::UserGet(r) => Err(a
                .check_user_get(user, &r.name)
                .and_then(|()| a.user_get(&r.name))
                .map(|roles| {
                    R::UserGet(pb::AuthUserGetResponse {
                        header: None,
                        roles,
                    })
                })),
            Q::UserList(_) => Err(a.check_admin(user).map(|()| {
                R::UserList(pb::AuthUserListResponse {
                    header: None,
                    users: a.user_list(),
                })
            })),
            Q::RoleGet(r) => Err(a
                .check_role_get(user, &r.role)
                .and_then(|()| a.role_get(&r.role))
                .map(|perm| R::RoleGet(pb::AuthRoleGetResponse { header: None, perm }))),
            Q::RoleList(_) => Err(a.check_admin(user).map(|()| {
                R::RoleList(pb::AuthRoleListResponse {
                    header: None,
                    roles: a.role_list(),
                })
            })),
            Q::PasswordOf(name) => Err(a
                .password_of(&name)
                .map(|(hash, revision)| R::PasswordOf { hash, revision })),
            Q::CheckRead { key, range_end } => Err(a
                .check_keys(user, Access::Read, &key, &range_end)
                .map(|()| R::Permitted { header: None })),
        };
        // `Ok(op)`: propose; `Err(answer)`: answer now.
        match proposal {
            Ok(op) => {
                self.propose(w, op).await;
                None
            }
            Err(Err(e)) => Some(Err(e)),
            Err(Ok(mut r)) => {
                r.set_header(Some(self.header()));
                Some(Ok(Response::Auth(r)))
            }
        }
    }
}
