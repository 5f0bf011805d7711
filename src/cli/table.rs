//! Tables for the CLI's human output: an upper-case header line and plain columns one space
//! apart, as wide as their widest cell, with no borders (comfy-table with no preset).
//! Numbers are right-aligned. Lines never wrap, whatever the terminal's width, so a table
//! piped to `grep` or `cut` keeps one row per line; trailing spaces are trimmed.
//!
//! Tables more than one command prints are made here ([`deals`]).

use comfy_table::presets::NOTHING;
use comfy_table::{CellAlignment, ContentArrangement};

use crate::api::types::Deal;
use crate::units::format_size;

pub struct Table {
    inner: comfy_table::Table,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        let mut inner = comfy_table::Table::new();
        inner
            .load_preset(NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(header.to_vec());
        for column in inner.column_iter_mut() {
            column.set_padding((0, 1));
        }
        Table { inner }
    }

    /// Right-aligns the columns at these indexes (0 is the first).
    pub fn right_aligned(mut self, columns: &[usize]) -> Self {
        for &index in columns {
            if let Some(column) = self.inner.column_mut(index) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        self
    }

    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.inner.add_row(cells);
        self
    }

    /// The header, then one line per row (cells never wrap; none may hold a newline).
    pub fn lines(&self) -> Vec<String> {
        self.inner
            .lines()
            .map(|line| line.trim_end().to_string())
            .collect()
    }

    pub fn render(&self) -> String {
        self.lines().join("\n")
    }
}

/// Deals, as `cairn deal list|show` and `cairn provider deals` print them: `paid_label` is
/// `PAID` for a client's deals and `EARNED` for a provider's.
pub fn deals(deals: &[Deal], paid_label: &str) -> Table {
    let mut table =
        Table::new(&["DEAL", "PEER", "SIZE", "STATE", "PROOFS", paid_label]).right_aligned(&[5]);
    for d in deals {
        table.row(vec![
            d.id.clone(),
            d.peer.clone(),
            format_size(d.piece_size),
            d.state.as_str().to_string(),
            format!("{}/{}", d.proofs_passed, d.proofs_failed),
            d.paid.to_string(),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn plain_columns_one_space_apart_with_numbers_on_the_right() {
        let mut table = Table::new(&["PEER", "STATE", "PAID"]).right_aligned(&[2]);
        table.row(vec!["12D3KooWa".into(), "active".into(), "7".into()]);
        table.row(vec![
            "12D3KooWlonger".into(),
            "cancelled".into(),
            "12345".into(),
        ]);
        assert_eq!(
            table.render(),
            "PEER           STATE      PAID\n\
             12D3KooWa      active        7\n\
             12D3KooWlonger cancelled 12345"
        );
    }

    #[test]
    fn a_table_without_rows_is_its_header_and_long_cells_never_wrap() {
        assert_eq!(Table::new(&["CID", "STATUS"]).render(), "CID STATUS");
        let long = "x".repeat(300);
        let mut table = Table::new(&["A", "B"]);
        table.row(vec![long.clone(), "".into()]);
        assert_eq!(
            table.lines(),
            ["A".to_string() + &" ".repeat(300) + "B", long]
        );
    }
}
