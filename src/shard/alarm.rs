//! Alarms, as etcd keeps them: a set of `(member, alarm type)`, raised by
//! the server (NOSPACE when space runs short) or by an `Alarm ACTIVATE`, and
//! cleared only by `Alarm DEACTIVATE` (`etcdctl alarm disarm`).
//!
//! etcd replicates alarms through raft and keeps them in its backend. Here
//! they are member-local and persisted in `member/alarms` (format below,
//! replaced atomically on every change), so they survive restarts. With
//! clustering, ACTIVATE/DEACTIVATE become raft entries applied on every
//! member; this type stays the applied state.
//!
//! File: `etcq_storage::small_file` framing (magic "ETCQALM1", crc32,
//! length) around the body, integers little-endian:
//! ```text
//! 4  count
//! count x { 8 member_id u64, 4 alarm type i32 }   ascending (member_id, type)
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use etcq_net::pb::etcdserverpb as pb;
use etcq_storage::disk::Disk;
use etcq_storage::small_file;

pub const ALARMS_FILE: &str = "alarms";
const MAGIC: &[u8; 8] = b"ETCQALM1";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alarms {
    set: BTreeSet<(u64, i32)>,
}

fn member(member_id: u64, alarm: i32) -> pb::AlarmMember {
    pb::AlarmMember { member_id, alarm }
}

impl Alarms {
    /// The alarms of type `alarm`, every alarm for `NONE` (etcd's alarm GET).
    pub fn get(&self, alarm: i32) -> Vec<pb::AlarmMember> {
        let mut out: Vec<_> = self
            .set
            .iter()
            .filter(|(_, a)| alarm == pb::AlarmType::None as i32 || *a == alarm)
            .map(|&(m, a)| member(m, a))
            .collect();
        out.sort_by_key(|m| (m.alarm, m.member_id));
        out
    }

    /// Raises `alarm` for `member_id`. `None` for type `NONE` (etcd ignores
    /// it); otherwise the alarm and whether it is new.
    pub fn activate(&mut self, member_id: u64, alarm: i32) -> Option<(pb::AlarmMember, bool)> {
        if alarm == pb::AlarmType::None as i32 {
            return None;
        }
        let new = self.set.insert((member_id, alarm));
        Some((member(member_id, alarm), new))
    }

    /// Clears `alarm` of `member_id`; `None` if it was not raised.
    pub fn deactivate(&mut self, member_id: u64, alarm: i32) -> Option<pb::AlarmMember> {
        self.set
            .remove(&(member_id, alarm))
            .then(|| member(member_id, alarm))
    }

    /// Whether any member has `alarm` raised.
    pub fn any(&self, alarm: pb::AlarmType) -> bool {
        self.set.iter().any(|&(_, a)| a == alarm as i32)
    }

    /// Whether `member_id` has `alarm` raised.
    pub fn has(&self, member_id: u64, alarm: pb::AlarmType) -> bool {
        self.set.contains(&(member_id, alarm as i32))
    }

    /// Status's `errors` lines, as etcd prints an `AlarmMember`.
    pub fn status_errors(&self) -> Vec<String> {
        self.get(pb::AlarmType::None as i32)
            .into_iter()
            .map(|m| {
                let name = pb::AlarmType::try_from(m.alarm)
                    .map(|t| t.as_str_name().to_string())
                    .unwrap_or_else(|_| m.alarm.to_string());
                format!("memberID:{} alarm:{name} ", m.member_id)
            })
            .collect()
    }

    /// The body of the alarms file.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(4 + self.set.len() * 12);
        body.extend_from_slice(&(self.set.len() as u32).to_le_bytes());
        for &(m, a) in &self.set {
            body.extend_from_slice(&m.to_le_bytes());
            body.extend_from_slice(&a.to_le_bytes());
        }
        body
    }

    pub fn decode(body: &[u8]) -> Result<Alarms, String> {
        let n = body.get(..4).ok_or("alarms: short body")?;
        let n = u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize;
        let recs = &body[4..];
        if recs.len() != n * 12 {
            return Err(format!("alarms: {} bytes for {n} alarms", recs.len()));
        }
        let set = recs
            .chunks_exact(12)
            .map(|r| {
                (
                    u64::from_le_bytes(r[..8].try_into().expect("8 bytes")),
                    i32::from_le_bytes(r[8..].try_into().expect("4 bytes")),
                )
            })
            .collect();
        Ok(Alarms { set })
    }

    /// Loads `dir/alarms`; none raised if the file does not exist.
    pub async fn load<D: Disk>(disk: &D, dir: &Path) -> Result<Alarms, String> {
        let path = dir.join(ALARMS_FILE);
        match small_file::load(disk, &path, MAGIC).await {
            Ok(None) => Ok(Alarms::default()),
            Ok(Some(body)) => Alarms::decode(&body).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Replaces `dir/alarms` atomically and durably.
    pub async fn save<D: Disk>(&self, disk: &D, dir: &Path) -> std::io::Result<()> {
        small_file::save(disk, dir, ALARMS_FILE, MAGIC, &self.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etcq_storage::disk_mem::MemDisk;
    use futures_lite::future::block_on;

    const NOSPACE: i32 = pb::AlarmType::Nospace as i32;
    const CORRUPT: i32 = pb::AlarmType::Corrupt as i32;

    #[test]
    fn alarms_follow_etcds_get_activate_deactivate() {
        let mut a = Alarms::default();
        assert!(a.activate(1, pb::AlarmType::None as i32).is_none());
        assert_eq!(a.activate(1, NOSPACE), Some((member(1, NOSPACE), true)));
        assert_eq!(a.activate(1, NOSPACE), Some((member(1, NOSPACE), false)));
        a.activate(2, CORRUPT);
        assert_eq!(a.get(pb::AlarmType::None as i32).len(), 2);
        assert_eq!(a.get(CORRUPT), vec![member(2, CORRUPT)]);
        assert!(a.any(pb::AlarmType::Nospace) && a.has(1, pb::AlarmType::Nospace));
        assert_eq!(
            a.status_errors(),
            vec![
                "memberID:1 alarm:NOSPACE ".to_string(),
                "memberID:2 alarm:CORRUPT ".to_string()
            ]
        );
        assert_eq!(a.deactivate(3, NOSPACE), None);
        assert_eq!(a.deactivate(1, NOSPACE), Some(member(1, NOSPACE)));
        assert!(!a.any(pb::AlarmType::Nospace));
    }

    #[test]
    fn alarms_survive_a_save_and_load() {
        let disk = MemDisk::new();
        let dir = Path::new("/data/member");
        block_on(async {
            disk.create_dir_all(dir).await.expect("dir");
            assert_eq!(Alarms::load(&disk, dir).await, Ok(Alarms::default()));
            let mut a = Alarms::default();
            a.activate(7, NOSPACE);
            a.activate(9, CORRUPT);
            a.save(&disk, dir).await.expect("save");
            assert_eq!(Alarms::load(&disk, dir).await, Ok(a.clone()));
            a.deactivate(7, NOSPACE);
            a.save(&disk, dir).await.expect("save");
            assert_eq!(Alarms::load(&disk, dir).await, Ok(a));
        });
        assert!(Alarms::decode(&[1, 0, 0, 0]).is_err());
    }
}
