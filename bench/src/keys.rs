//! Keys and values of the generated load.
//!
//! Keys are the key index written as zero-padded decimal, `key-size` bytes
//! long (`00000042`): printable, so `range` can name them on a command line,
//! and as many distinct keys as etcd's varint keys for any realistic key
//! space. Values start with the operation's index as 20 decimal digits,
//! then filler: every put in a run writes a distinct value (a history
//! checker needs that), and a watcher can tell which put an event came from
//! (the put->event latency of the watch workloads).

use anyhow::{bail, Result};
use bytes::{BufMut, Bytes, BytesMut};
use rand::{Rng, RngCore};

/// Decimal digits of a `u64`: the index prefix of every value.
pub(crate) const VALUE_INDEX_DIGITS: usize = 20;

/// Makes keys `0..key_space_size` of `key_size` bytes.
#[derive(Debug, Clone)]
pub(crate) struct KeySpace {
    key_size: usize,
    key_space_size: u64,
    sequential: bool,
}

impl KeySpace {
    /// Checks that `key_space_size` distinct keys fit in `key_size` digits.
    pub(crate) fn new(key_size: usize, key_space_size: u64, sequential: bool) -> Result<KeySpace> {
        if key_size == 0 {
            bail!("--key-size must be at least 1");
        }
        if key_space_size == 0 {
            bail!("--key-space-size must be at least 1");
        }
        let digits_needed = decimal_digits(key_space_size - 1);
        if digits_needed > key_size {
            bail!(
                "--key-space-size {key_space_size} needs keys of at least {digits_needed} bytes \
                 (--key-size is {key_size})"
            );
        }
        Ok(KeySpace {
            key_size,
            key_space_size,
            sequential,
        })
    }

    /// The key with this index (taken modulo the key space).
    pub(crate) fn key(&self, index: u64) -> Bytes {
        let index = index % self.key_space_size;
        Bytes::from(format!("{index:0width$}", width = self.key_size))
    }

    /// The key of request `op_index`: sequential or uniformly random.
    pub(crate) fn key_for_op<R: Rng>(&self, op_index: u64, rng: &mut R) -> Bytes {
        if self.sequential {
            self.key(op_index)
        } else {
            self.key(rng.gen_range(0..self.key_space_size))
        }
    }
}

fn decimal_digits(mut n: u64) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Makes values of `val_size` bytes: index prefix, then fixed random filler.
#[derive(Debug, Clone)]
pub(crate) struct ValueMaker {
    val_size: usize,
    filler: Bytes,
}

impl ValueMaker {
    pub(crate) fn new<R: RngCore>(val_size: usize, rng: &mut R) -> ValueMaker {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let filler_len = val_size.saturating_sub(VALUE_INDEX_DIGITS);
        let filler: Vec<u8> = (0..filler_len)
            .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()])
            .collect();
        ValueMaker {
            val_size,
            filler: Bytes::from(filler),
        }
    }

    /// The value written by operation `op_index`. Shorter than 20 bytes, it
    /// keeps only the index's last digits (and is no longer unique).
    pub(crate) fn value(&self, op_index: u64) -> Bytes {
        let digits = format!("{op_index:0width$}", width = VALUE_INDEX_DIGITS);
        let mut value = BytesMut::with_capacity(self.val_size);
        let prefix_len = self.val_size.min(VALUE_INDEX_DIGITS);
        value.put_slice(&digits.as_bytes()[VALUE_INDEX_DIGITS - prefix_len..]);
        value.put_slice(&self.filler);
        debug_assert_eq!(value.len(), self.val_size);
        value.freeze()
    }
}

/// The operation index a value made by [`ValueMaker::value`] starts with.
pub(crate) fn value_index(value: &[u8]) -> Option<u64> {
    let digits = value.get(..VALUE_INDEX_DIGITS)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn keys_are_zero_padded_decimal_of_key_size() {
        let space = KeySpace::new(8, 1000, true).expect("valid key space");
        assert_eq!(space.key(42), Bytes::from_static(b"00000042"));
        assert_eq!(space.key(1042), Bytes::from_static(b"00000042"));
    }

    #[test]
    fn key_space_must_fit_in_key_size() {
        assert!(KeySpace::new(2, 100, false).is_ok());
        assert!(KeySpace::new(2, 101, false).is_err());
        assert!(KeySpace::new(0, 1, false).is_err());
        assert!(KeySpace::new(4, 0, false).is_err());
    }

    #[test]
    fn random_keys_stay_in_the_key_space() {
        let space = KeySpace::new(3, 10, false).expect("valid key space");
        let mut rng = StdRng::seed_from_u64(7);
        for i in 0..1000 {
            let key = space.key_for_op(i, &mut rng);
            assert_eq!(key.len(), 3);
            assert!(key.starts_with(b"00"));
        }
    }

    #[test]
    fn values_carry_their_index_and_have_val_size() {
        let mut rng = StdRng::seed_from_u64(1);
        let maker = ValueMaker::new(256, &mut rng);
        let value = maker.value(123_456);
        assert_eq!(value.len(), 256);
        assert_eq!(value_index(&value), Some(123_456));
        assert_ne!(maker.value(1), maker.value(2));
    }

    #[test]
    fn short_values_keep_the_last_digits() {
        let mut rng = StdRng::seed_from_u64(1);
        let maker = ValueMaker::new(4, &mut rng);
        assert_eq!(maker.value(123_456), Bytes::from_static(b"3456"));
        assert_eq!(value_index(&maker.value(1)), None);
    }
}
