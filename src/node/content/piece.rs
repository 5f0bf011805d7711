//! Pieces this node can prove: commitment, outboard and offset index per committed DAG,
//! kept as files under `<data>/pieces/` (the outboard is about size/256 bytes) and recorded
//! in the database. The piece bytes themselves are never stored twice: proofs read them
//! back from the block store through the index.

use std::path::PathBuf;

use cid::Cid;

use super::Content;
use crate::node::{NodeError, Result};
use crate::proof::{
    self, Challenge, IndexedPiece, PieceCommitment, PieceError, PieceIndex, PieceOutboard, Proof,
};

impl Content {
    fn piece_path(&self, root_hex: &str, ext: &str) -> PathBuf {
        self.parts
            .data
            .root()
            .join("pieces")
            .join(format!("{root_hex}.{ext}"))
    }

    /// Computes the piece commitment of the DAG under `root` (all blocks local) and keeps what
    /// proving needs. Idempotent.
    pub async fn piece_commit(&self, root: &Cid) -> Result<PieceCommitment> {
        let piece = proof::commit_dag(self.local_blocks(), *root).await?;
        let hex = piece.commitment.root_hash().to_hex().to_string();
        let index = piece.index.to_bytes()?;
        write_atomically(
            self.piece_path(&hex, "outboard"),
            piece.outboard.as_bytes().to_vec(),
        )
        .await?;
        write_atomically(self.piece_path(&hex, "index"), index).await?;
        self.parts
            .db
            .put_piece(&hex, piece.commitment.size, &root.to_string())
            .await?;
        Ok(piece.commitment)
    }

    /// Answers a challenge for a piece this node committed.
    pub async fn prove(&self, challenge: &Challenge) -> Result<Proof, PieceError> {
        let hex = hex::encode(challenge.piece_root);
        let known = self
            .parts
            .db
            .get_piece(&hex)
            .await
            .map_err(|e| PieceError::Encode(e.to_string()))?;
        if known.is_none() {
            return Err(PieceError::WrongPiece(format!(
                "no piece with root {hex} here"
            )));
        }
        let read = |ext| {
            let path = self.piece_path(&hex, ext);
            async move {
                tokio::fs::read(&path)
                    .await
                    .map_err(|e| PieceError::Encode(format!("{}: {e}", path.display())))
            }
        };
        let outboard = PieceOutboard::from_bytes(challenge.piece(), read("outboard").await?)?;
        let index = PieceIndex::from_bytes(&read("index").await?)?;
        let source = IndexedPiece {
            index: &index,
            blocks: self.local_blocks(),
        };
        proof::prove(challenge, &source, &outboard).await
    }
}

async fn write_atomically(path: PathBuf, bytes: Vec<u8>) -> Result<()> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A temp name of its own per file and per writer: the outboard and the index share a
        // stem, and two commits of one piece may run at once (a keeper making several deals).
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
        let tmp = path.with_file_name(name);
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    })
    .await
    .map_err(NodeError::internal)?
    .map_err(|e| NodeError::internal(format!("writing piece files: {e}")))
}
