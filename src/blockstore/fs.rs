//! The on-disk block store (written next).
#[derive(Debug)]
pub struct FsBlockstore;
