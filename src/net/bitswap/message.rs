//! Bitswap's wire message (`bitswap-protocol.md`): the protobuf, written with prost derive,
//! in length-prefixed frames capped at [`MAX_MESSAGE_SIZE`].

use cid::Cid;
use futures::{AsyncRead, AsyncWrite};

use crate::net::frame;
use prost::Message as _;

/// Largest message read or written. Helia packs several 1 MiB blocks per message and
/// refuses anything over 4 MiB.
pub const MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024 - 1024;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    #[prost(message, optional, tag = "1")]
    pub wantlist: Option<Wantlist>,
    /// Bitswap 1.0.0 blocks (CIDv0 only).
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub blocks: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "3")]
    pub payload: Vec<Payload>,
    #[prost(message, repeated, tag = "4")]
    pub block_presences: Vec<BlockPresence>,
    #[prost(int32, tag = "5")]
    pub pending_bytes: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Wantlist {
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
    #[prost(bool, tag = "2")]
    pub full: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    #[prost(bytes = "vec", tag = "1")]
    pub block: Vec<u8>,
    #[prost(int32, tag = "2")]
    pub priority: i32,
    #[prost(bool, tag = "3")]
    pub cancel: bool,
    #[prost(enumeration = "WantType", tag = "4")]
    pub want_type: i32,
    #[prost(bool, tag = "5")]
    pub send_dont_have: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum WantType {
    Block = 0,
    Have = 1,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// CID prefix: version, codec, multihash code and length, as varints.
    #[prost(bytes = "vec", tag = "1")]
    pub prefix: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub data: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockPresence {
    #[prost(bytes = "vec", tag = "1")]
    pub cid: Vec<u8>,
    #[prost(enumeration = "PresenceType", tag = "2")]
    pub r#type: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum PresenceType {
    Have = 0,
    DontHave = 1,
}

/// The CID prefix of a payload block.
pub fn prefix(cid: &Cid) -> Vec<u8> {
    let mut out = Vec::with_capacity(8);
    let mut buf = unsigned_varint::encode::u64_buffer();
    let version: u64 = cid.version().into();
    for value in [
        version,
        cid.codec(),
        cid.hash().code(),
        u64::from(cid.hash().size()),
    ] {
        out.extend_from_slice(unsigned_varint::encode::u64(value, &mut buf));
    }
    out
}

/// Rebuilds a CID from a payload's prefix by hashing its data. The result matches the data
/// by construction; callers check it is a CID they asked for.
pub fn cid_of(prefix: &[u8], data: &[u8]) -> Option<Cid> {
    let (version, rest) = unsigned_varint::decode::u64(prefix).ok()?;
    let (codec, rest) = unsigned_varint::decode::u64(rest).ok()?;
    let (code, rest) = unsigned_varint::decode::u64(rest).ok()?;
    let (_len, _) = unsigned_varint::decode::u64(rest).ok()?;
    let alg = match code {
        crate::content::SHA2_256 => crate::content::HashAlg::Sha2_256,
        crate::content::BLAKE3 => crate::content::HashAlg::Blake3,
        _ => return None,
    };
    let digest = alg.digest(data);
    match version {
        0 => Cid::new_v0(digest).ok(),
        1 => Some(Cid::new_v1(codec, digest)),
        _ => None,
    }
}

pub use crate::net::frame::FrameError;

/// Reads one message; `Ok(None)` at a clean end of stream.
pub async fn read<R: AsyncRead + Unpin>(io: &mut R) -> Result<Option<Message>, FrameError> {
    match frame::read(io, MAX_MESSAGE_SIZE).await? {
        Some(bytes) => Message::decode(bytes.as_slice())
            .map(Some)
            .map_err(|e| FrameError::Malformed(e.to_string())),
        None => Ok(None),
    }
}

pub async fn write<W: AsyncWrite + Unpin>(io: &mut W, message: &Message) -> Result<(), FrameError> {
    frame::write(io, &message.encode_to_vec(), MAX_MESSAGE_SIZE).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{Block, HashAlg, RAW};

    #[test]
    fn prefix_rebuilds_the_cid_from_the_data() {
        for alg in [HashAlg::Sha2_256, HashAlg::Blake3] {
            let block = Block::encode(RAW, alg, &b"bitswap"[..]);
            assert_eq!(
                cid_of(&prefix(block.cid()), block.data()),
                Some(*block.cid())
            );
        }
        let v0 = Cid::new_v0(HashAlg::Sha2_256.digest(b"x")).unwrap();
        assert_eq!(cid_of(&prefix(&v0), b"x"), Some(v0));
    }

    #[tokio::test]
    async fn framing_round_trips_and_refuses_oversized_lengths() {
        let message = Message {
            pending_bytes: 7,
            ..Default::default()
        };
        let mut wire = Vec::new();
        write(&mut futures::io::Cursor::new(&mut wire), &message)
            .await
            .unwrap();
        let back = read(&mut futures::io::Cursor::new(wire)).await.unwrap();
        assert_eq!(back, Some(message));
        let mut huge = Vec::new();
        let mut buf = unsigned_varint::encode::usize_buffer();
        huge.extend_from_slice(unsigned_varint::encode::usize(64 << 20, &mut buf));
        assert!(matches!(
            read(&mut futures::io::Cursor::new(huge)).await,
            Err(FrameError::TooLarge { .. })
        ));
        assert!(read(&mut futures::io::Cursor::new(Vec::new()))
            .await
            .unwrap()
            .is_none());
    }
}
