//! Range reads with etcd's semantics layered on the MVCC store's plain range:
//! sort order and target, min/max mod/create revision filters, limit + more,
//! keys_only, count_only.

use etcq_net::pb::etcdserverpb as pb;
use etcq_storage::mvcc::{self, MvccError};

use crate::errors::EtcdError;
use crate::shard::apply::{mvcc_error, to_pb_kv};

/// Serves `r` using `fetch` for the store-level range.
pub fn range_with(
    r: &pb::RangeRequest,
    fetch: impl FnOnce(&mvcc::RangeRequest) -> Result<mvcc::RangeResult, MvccError>,
) -> Result<pb::RangeResponse, EtcdError> {
    use pb::range_request::{SortOrder, SortTarget};
    let target = SortTarget::try_from(r.sort_target).unwrap_or(SortTarget::Key);
    let mut order = SortOrder::try_from(r.sort_order).unwrap_or(SortOrder::None);
    if target != SortTarget::Key && order == SortOrder::None {
        // The store returns key order; any other target needs an explicit sort.
        order = SortOrder::Ascend;
    }
    let filtered = r.min_mod_revision != 0
        || r.max_mod_revision != 0
        || r.min_create_revision != 0
        || r.max_create_revision != 0;
    let fetch_all = order != SortOrder::None || filtered;
    let limit = if fetch_all || r.limit <= 0 {
        0
    } else {
        r.limit as usize + 1
    };
    let req = mvcc::RangeRequest {
        key: &r.key,
        range_end: &r.range_end,
        revision: r.revision,
        limit,
        keys_only: r.keys_only,
        count_only: r.count_only,
    };
    let res = fetch(&req).map_err(mvcc_error)?;
    let mut kvs = res.kvs;
    if filtered {
        kvs.retain(|kv| {
            (r.min_mod_revision == 0 || kv.mod_revision >= r.min_mod_revision)
                && (r.max_mod_revision == 0 || kv.mod_revision <= r.max_mod_revision)
                && (r.min_create_revision == 0 || kv.create_revision >= r.min_create_revision)
                && (r.max_create_revision == 0 || kv.create_revision <= r.max_create_revision)
        });
    }
    if order != SortOrder::None {
        match target {
            SortTarget::Key => kvs.sort_by(|a, b| a.key.cmp(&b.key)),
            SortTarget::Version => kvs.sort_by_key(|kv| kv.version),
            SortTarget::Create => kvs.sort_by_key(|kv| kv.create_revision),
            SortTarget::Mod => kvs.sort_by_key(|kv| kv.mod_revision),
            SortTarget::Value => kvs.sort_by(|a, b| a.value.cmp(&b.value)),
        }
        if order == SortOrder::Descend {
            kvs.reverse();
        }
    }
    let mut more = false;
    if r.limit > 0 && kvs.len() > r.limit as usize {
        kvs.truncate(r.limit as usize);
        more = true;
    }
    let kvs = if r.count_only {
        Vec::new()
    } else {
        kvs.iter()
            .map(|kv| {
                let mut kv = to_pb_kv(kv);
                if r.keys_only {
                    kv.value = Default::default();
                }
                kv
            })
            .collect()
    };
    Ok(pb::RangeResponse {
        header: Some(pb::ResponseHeader {
            revision: res.revision,
            ..Default::default()
        }),
        kvs,
        more,
        count: res.count as i64,
    })
}
