//! Applying committed requests to the MVCC store and the lessor.
//!
//! Pure with respect to the request: the same entry applied to the same state
//! gives the same state, revisions and response on every member. The only
//! outside input is `now_ms`, used for leader-local lease deadlines, which are
//! not part of the replicated state.

use bytes::Bytes;
use etcq_net::pb::{etcdserverpb as pb, mvccpb};
use etcq_storage::disk::Disk;
use etcq_storage::mvcc::{self, MvccError, MvccStore, WriteTxn};

use crate::auth::AuthStore;
use crate::errors::{self, EtcdError};
use crate::lease::Lessor;
use crate::mesh::AuthResponse;
use crate::proposal::Op;

/// Why an op failed: the client's fault (answered, state unchanged) or the
/// store's (fatal for the shard: the state no longer follows the log).
pub enum Fail {
    Client(EtcdError),
    Storage(MvccError),
}

impl From<EtcdError> for Fail {
    fn from(e: EtcdError) -> Self {
        Fail::Client(e)
    }
}

impl From<MvccError> for Fail {
    fn from(e: MvccError) -> Self {
        match e {
            MvccError::Compacted { .. } | MvccError::FutureRev { .. } => {
                Fail::Client(mvcc_error(e))
            }
            other => Fail::Storage(other),
        }
    }
}

/// What applying one entry produced.
pub struct Applied {
    pub result: Result<AppliedResponse, EtcdError>,
    /// Watch events in revision order (with prev_kv).
    pub events: Vec<mvccpb::Event>,
}

pub enum AppliedResponse {
    Put(pb::PutResponse),
    DeleteRange(pb::DeleteRangeResponse),
    Txn(pb::TxnResponse),
    Compaction(pb::CompactionResponse),
    LeaseGrant(pb::LeaseGrantResponse),
    LeaseRevoke(pb::LeaseRevokeResponse),
    LeaseCheckpoint,
    Auth(AuthResponse),
}

pub fn to_pb_kv(kv: &mvcc::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key.clone(),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value.clone(),
        lease: kv.lease,
    }
}

pub fn into_pb_kv(kv: mvcc::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

pub fn into_pb_event(ev: mvcc::Event) -> mvccpb::Event {
    mvccpb::Event {
        r#type: match ev.kind {
            mvcc::EventKind::Put => mvccpb::event::EventType::Put as i32,
            mvcc::EventKind::Delete => mvccpb::event::EventType::Delete as i32,
        },
        kv: Some(into_pb_kv(ev.kv)),
        prev_kv: ev.prev_kv.map(into_pb_kv),
    }
}

pub fn mvcc_error(e: MvccError) -> EtcdError {
    match e {
        MvccError::Compacted { .. } => errors::compacted(),
        MvccError::FutureRev { .. } => errors::future_rev(),
        other => errors::internal(other),
    }
}

/// What applying an auth op produced (auth ops write no keys).
fn auth_applied(result: Result<AuthResponse, EtcdError>) -> Applied {
    Applied {
        result: result.map(AppliedResponse::Auth),
        events: Vec::new(),
    }
}

/// Applies one auth op. `index` is the raft index of its entry (part of a
/// simple token, as in etcd).
fn apply_auth(auth: &mut AuthStore, op: Op, index: u64, now_ms: u64) -> Applied {
    use AuthResponse as R;
    auth_applied(match op {
        Op::AuthEnable(_) => auth.enable().map(|()| R::Enable(Default::default())),
        Op::AuthDisable(_) => {
            auth.disable();
            Ok(R::Disable(Default::default()))
        }
        Op::UserAdd(r) => {
            let no_password = r.options.is_some_and(|o| o.no_password);
            let hash = (!no_password).then_some(r.hashed_password);
            auth.user_add(&r.name, hash)
                .map(|()| R::UserAdd(Default::default()))
        }
        Op::UserDelete(r) => auth
            .user_delete(&r.name)
            .map(|()| R::UserDelete(Default::default())),
        Op::UserChangePassword(r) => auth
            .user_change_password(&r.name, r.hashed_password)
            .map(|()| R::UserChangePassword(Default::default())),
        Op::UserGrantRole(r) => auth
            .user_grant_role(&r.user, &r.role)
            .map(|()| R::UserGrantRole(Default::default())),
        Op::UserRevokeRole(r) => auth
            .user_revoke_role(&r.name, &r.role)
            .map(|()| R::UserRevokeRole(Default::default())),
        Op::RoleAdd(r) => auth
            .role_add(&r.name)
            .map(|()| R::RoleAdd(Default::default())),
        Op::RoleDelete(r) => auth
            .role_delete(&r.role)
            .map(|()| R::RoleDelete(Default::default())),
        Op::RoleGrantPermission(r) => match r.perm {
            None => Err(EtcdError::new(
                errors::Code::InvalidArgument,
                "etcq: RoleGrantPermission without a permission",
            )),
            Some(p) => auth
                .role_grant_permission(&r.name, p)
                .map(|()| R::RoleGrantPermission(Default::default())),
        },
        Op::RoleRevokePermission(r) => auth
            .role_revoke_permission(&r.role, &r.key, &r.range_end)
            .map(|()| R::RoleRevokePermission(Default::default())),
        Op::AssignToken(t) => auth
            .assign_token(
                &t.name,
                t.checked_revision,
                format!("{}.{index}", t.prefix),
                now_ms,
            )
            .map(|token| {
                R::Authenticate(pb::AuthenticateResponse {
                    header: None,
                    token,
                })
            }),
        other => unreachable!("not an auth op: {other:?}"),
    })
}

/// Applies one committed operation. `Err` only when the store failed.
pub fn apply<D: Disk>(
    store: &mut MvccStore<D>,
    lessor: &mut Lessor,
    auth: &mut AuthStore,
    op: Op,
    index: u64,
    now_ms: u64,
    want_events: bool,
) -> Result<Applied, MvccError> {
    Ok(match op {
        Op::Put(req) => write(store, lessor, want_events, |txn, lessor| {
            check_put(txn, lessor, &req)?;
            put(txn, lessor, &req).map(AppliedResponse::Put)
        })?,
        Op::DeleteRange(req) => write(store, lessor, want_events, |txn, lessor| {
            Ok(AppliedResponse::DeleteRange(delete_range(
                txn, lessor, &req,
            )?))
        })?,
        Op::Txn(req) => write(store, lessor, want_events, |txn, lessor| {
            check_txn(txn, lessor, &req)?;
            txn_ops(txn, lessor, &req).map(AppliedResponse::Txn)
        })?,
        Op::Compaction(req) => Applied {
            result: store
                .compact(req.revision)
                .map(|()| AppliedResponse::Compaction(pb::CompactionResponse::default()))
                .map_err(mvcc_error),
            events: Vec::new(),
        },
        Op::LeaseGrant(req) => Applied {
            result: lessor.grant(req.id, req.ttl, now_ms).map(|l| {
                AppliedResponse::LeaseGrant(pb::LeaseGrantResponse {
                    id: l.id,
                    ttl: l.ttl_secs,
                    ..Default::default()
                })
            }),
            events: Vec::new(),
        },
        Op::LeaseRevoke(req) => match lessor.revoke(req.id) {
            Err(e) => Applied {
                result: Err(e),
                events: Vec::new(),
            },
            Ok(keys) => {
                let mut txn = start_write(store, want_events);
                for key in &keys {
                    txn.delete_range(key, &[])?;
                }
                let (_, events) = txn.commit();
                Applied {
                    result: Ok(AppliedResponse::LeaseRevoke(
                        pb::LeaseRevokeResponse::default(),
                    )),
                    events: events.into_iter().map(into_pb_event).collect(),
                }
            }
        },
        Op::LeaseCheckpoint(req) => {
            for cp in req.checkpoints {
                lessor.checkpoint(cp.id, cp.remaining_ttl, now_ms);
            }
            Applied {
                result: Ok(AppliedResponse::LeaseCheckpoint),
                events: Vec::new(),
            }
        }
        op @ (Op::AuthEnable(_)
        | Op::AuthDisable(_)
        | Op::UserAdd(_)
        | Op::UserDelete(_)
        | Op::UserChangePassword(_)
        | Op::UserGrantRole(_)
        | Op::UserRevokeRole(_)
        | Op::RoleAdd(_)
        | Op::RoleDelete(_)
        | Op::RoleGrantPermission(_)
        | Op::RoleRevokePermission(_)
        | Op::AssignToken(_)) => apply_auth(auth, op, index, now_ms),
    })
}

/// A write transaction that keeps watch events only when someone watches
/// (building them costs copies and a map entry per changed key).
fn start_write<D: Disk>(store: &mut MvccStore<D>, want_events: bool) -> WriteTxn<'_, D> {
    if want_events {
        store.write()
    } else {
        store.write_without_events()
    }
}

/// Runs `f` in one write transaction. On error nothing is committed. The
/// watch events are the store's (`prev_kv`: the key before the txn).
fn write<D: Disk>(
    store: &mut MvccStore<D>,
    lessor: &mut Lessor,
    want_events: bool,
    f: impl FnOnce(&mut WriteTxn<'_, D>, &mut Lessor) -> Result<AppliedResponse, Fail>,
) -> Result<Applied, MvccError> {
    let mut txn = start_write(store, want_events);
    Ok(match f(&mut txn, lessor) {
        Ok(resp) => {
            let (_, events) = txn.commit();
            Applied {
                result: Ok(resp),
                events: events.into_iter().map(into_pb_event).collect(),
            }
        }
        Err(Fail::Client(e)) => {
            // Client checks all run before the first change, so nothing was written.
            let (_, events) = txn.commit();
            debug_assert!(events.is_empty(), "a refused op must not have written");
            Applied {
                result: Err(e),
                events: Vec::new(),
            }
        }
        Err(Fail::Storage(e)) => return Err(e),
    })
}

fn get_one<D: Disk>(txn: &WriteTxn<'_, D>, key: &[u8]) -> Option<mvcc::KeyValue> {
    let req = mvcc::RangeRequest {
        key,
        range_end: &[],
        revision: 0,
        limit: 1,
        keys_only: false,
        count_only: false,
    };
    txn.range(&req).ok().and_then(|r| r.kvs.into_iter().next())
}

fn check_put<D: Disk>(
    txn: &WriteTxn<'_, D>,
    lessor: &Lessor,
    req: &pb::PutRequest,
) -> Result<(), Fail> {
    if (req.ignore_value || req.ignore_lease) && get_one(txn, &req.key).is_none() {
        return Err(errors::key_not_found().into());
    }
    if !req.ignore_lease && req.lease != 0 && !lessor.contains(req.lease) {
        return Err(errors::lease_not_found().into());
    }
    Ok(())
}

fn put<D: Disk>(
    txn: &mut WriteTxn<'_, D>,
    lessor: &mut Lessor,
    req: &pb::PutRequest,
) -> Result<pb::PutResponse, Fail> {
    let prev = if req.ignore_value || req.ignore_lease || req.prev_kv {
        get_one(txn, &req.key)
    } else {
        None
    };
    let value: Bytes = match (&prev, req.ignore_value) {
        (Some(p), true) => p.value.clone(),
        (None, true) => return Err(errors::key_not_found().into()),
        _ => req.value.clone(),
    };
    let lease = match (&prev, req.ignore_lease) {
        (Some(p), true) => p.lease,
        (None, true) => return Err(errors::key_not_found().into()),
        _ => req.lease,
    };
    let done = txn.put_lean(&req.key, &value, lease, req.prev_kv)?;
    if let Some(old_lease) = done.prev_lease {
        if old_lease != 0 && old_lease != lease {
            lessor.detach(old_lease, &req.key);
        }
    }
    if lease != 0 {
        lessor.attach(lease, req.key.clone());
    }
    let prev_kv = done.prev_kv.map(into_pb_kv);
    Ok(pb::PutResponse {
        header: None,
        prev_kv,
    })
}

fn delete_range<D: Disk>(
    txn: &mut WriteTxn<'_, D>,
    lessor: &mut Lessor,
    req: &pb::DeleteRangeRequest,
) -> Result<pb::DeleteRangeResponse, MvccError> {
    let evs = txn.delete_range(&req.key, &req.range_end)?;
    let mut resp = pb::DeleteRangeResponse {
        header: None,
        deleted: evs.len() as i64,
        prev_kvs: Vec::new(),
    };
    for ev in &evs {
        if let Some(prev) = &ev.prev_kv {
            if prev.lease != 0 {
                lessor.detach(prev.lease, &prev.key);
            }
            if req.prev_kv {
                resp.prev_kvs.push(to_pb_kv(prev));
            }
        }
    }
    Ok(resp)
}

/// Evaluates a txn's compares against the current state.
fn compares_hold<D: Disk>(txn: &WriteTxn<'_, D>, compares: &[pb::Compare]) -> bool {
    compares.iter().all(|c| compare_holds(txn, c))
}

fn compare_holds<D: Disk>(txn: &WriteTxn<'_, D>, c: &pb::Compare) -> bool {
    let req = mvcc::RangeRequest {
        key: &c.key,
        range_end: &c.range_end,
        revision: 0,
        limit: 0,
        keys_only: false,
        count_only: false,
    };
    let kvs = match txn.range(&req) {
        Ok(r) => r.kvs,
        Err(_) => return false,
    };
    use pb::compare::{CompareTarget as T, TargetUnion as U};
    if kvs.is_empty() {
        if c.target == T::Value as i32 {
            return false;
        }
        return compare_kv(c, &mvcc::KeyValue::default());
    }
    let _ = U::Version; // all union arms handled in compare_kv
    kvs.iter().all(|kv| compare_kv(c, kv))
}

fn compare_kv(c: &pb::Compare, kv: &mvcc::KeyValue) -> bool {
    use pb::compare::{CompareResult as R, CompareTarget as T, TargetUnion as U};
    use std::cmp::Ordering;
    let ord = match (T::try_from(c.target), &c.target_union) {
        (Ok(T::Version), Some(U::Version(v))) => kv.version.cmp(v),
        (Ok(T::Create), Some(U::CreateRevision(v))) => kv.create_revision.cmp(v),
        (Ok(T::Mod), Some(U::ModRevision(v))) => kv.mod_revision.cmp(v),
        (Ok(T::Value), Some(U::Value(v))) => kv.value.as_ref().cmp(v.as_ref()),
        (Ok(T::Lease), Some(U::Lease(v))) => kv.lease.cmp(v),
        // A missing union compares against the zero value, as in proto3.
        (Ok(T::Version), None) => kv.version.cmp(&0),
        (Ok(T::Create), None) => kv.create_revision.cmp(&0),
        (Ok(T::Mod), None) => kv.mod_revision.cmp(&0),
        (Ok(T::Value), None) => kv.value.as_ref().cmp(&[][..]),
        (Ok(T::Lease), None) => kv.lease.cmp(&0),
        _ => return false,
    };
    match R::try_from(c.result) {
        Ok(R::Equal) => ord == Ordering::Equal,
        Ok(R::NotEqual) => ord != Ordering::Equal,
        Ok(R::Less) => ord == Ordering::Less,
        Ok(R::Greater) => ord == Ordering::Greater,
        Err(_) => false,
    }
}

/// Checks the branch that will run (recursively) before anything is written:
/// leases of puts must exist, ignore_* puts need an existing key, ranges must
/// read an available revision.
fn check_txn<D: Disk>(
    txn: &WriteTxn<'_, D>,
    lessor: &Lessor,
    req: &pb::TxnRequest,
) -> Result<(), Fail> {
    let ops = if compares_hold(txn, &req.compare) {
        &req.success
    } else {
        &req.failure
    };
    for op in ops {
        match &op.request {
            Some(pb::request_op::Request::RequestPut(p)) => check_put(txn, lessor, p)?,
            Some(pb::request_op::Request::RequestTxn(t)) => check_txn(txn, lessor, t)?,
            Some(pb::request_op::Request::RequestRange(r)) if r.revision > 0 => {
                let req = mvcc::RangeRequest {
                    key: &r.key,
                    range_end: &r.range_end,
                    revision: r.revision,
                    limit: 1,
                    keys_only: true,
                    count_only: true,
                };
                txn.range(&req)?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn txn_ops<D: Disk>(
    txn: &mut WriteTxn<'_, D>,
    lessor: &mut Lessor,
    req: &pb::TxnRequest,
) -> Result<pb::TxnResponse, Fail> {
    let succeeded = compares_hold(txn, &req.compare);
    let ops = if succeeded {
        &req.success
    } else {
        &req.failure
    };
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        use pb::request_op::Request as Q;
        use pb::response_op::Response as S;
        let mut resp = match &op.request {
            Some(Q::RequestRange(r)) => {
                S::ResponseRange(crate::shard::read::range_with(r, |q| txn.range(q))?)
            }
            Some(Q::RequestPut(p)) => S::ResponsePut(put(txn, lessor, p)?),
            Some(Q::RequestDeleteRange(d)) => S::ResponseDeleteRange(delete_range(txn, lessor, d)?),
            Some(Q::RequestTxn(t)) => S::ResponseTxn(txn_ops(txn, lessor, t)?),
            None => continue,
        };
        // As etcd: an op's header holds only the revision it saw (its
        // txn's new revision once the txn has written); a nested txn's
        // header is empty.
        let at = Some(pb::ResponseHeader {
            revision: txn.read_revision(),
            ..Default::default()
        });
        match &mut resp {
            S::ResponseRange(r) => r.header = at,
            S::ResponsePut(r) => r.header = at,
            S::ResponseDeleteRange(r) => r.header = at,
            S::ResponseTxn(r) => r.header = Some(pb::ResponseHeader::default()),
        }
        responses.push(pb::ResponseOp {
            response: Some(resp),
        });
    }
    Ok(pb::TxnResponse {
        header: None,
        succeeded,
        responses,
    })
}
