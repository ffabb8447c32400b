//! A grid of text cells, stored compactly (one string for every cell, plus end offsets), so a
//! table of 100,000 sockets costs about the size of its text, not eight heap strings per row.
//! It renders as plain aligned columns (pipes) or as a comfy-table (terminals).

use std::fmt::Write as _;
use std::io::{self, Write};

use comfy_table::{Attribute, Cell, CellAlignment, LineStyle, Table, TableStyle};

use crate::output::{Style, printable};

/// A mark in the first column of `--watch` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Same,
    Appeared,
    Vanished,
    /// Same socket, new state.
    Changed,
}

impl Mark {
    /// The one-character text of the mark.
    pub fn text(self) -> &'static str {
        match self {
            Mark::Same => " ",
            Mark::Appeared => "+",
            Mark::Vanished => "-",
            Mark::Changed => "~",
        }
    }
}

/// Cells in rows; every cell is made printable as it is added.
#[derive(Debug, Clone)]
pub struct Grid {
    headers: Vec<&'static str>,
    right: Vec<bool>,
    text: String,
    ends: Vec<u32>,
    widths: Vec<usize>,
    /// The one column a terminal table may wrap; the others keep their content width, so an
    /// address or a state is never split across lines.
    wrap: Option<usize>,
    /// Free text under each row (`list -i`: tcp_info words, problems), stored as compactly as
    /// the cells: one string and an end offset per row that has had one set.
    detail_text: String,
    detail_ends: Vec<u32>,
}

impl Grid {
    /// A grid with these headers; `right` names the right-aligned (numeric) columns.
    pub fn new(headers: &[&'static str], right: &[usize]) -> Grid {
        Grid {
            headers: headers.to_vec(),
            right: (0..headers.len()).map(|i| right.contains(&i)).collect(),
            text: String::new(),
            ends: Vec::new(),
            widths: headers.iter().map(|h| h.chars().count()).collect(),
            wrap: None,
            detail_text: String::new(),
            detail_ends: Vec::new(),
        }
    }

    /// Sets the text printed under the last complete row (it may hold several lines; control
    /// characters other than newlines and tabs are defused).
    pub fn detail_with(&mut self, write: impl FnOnce(&mut String)) {
        let Some(row) = self.rows().checked_sub(1) else {
            return;
        };
        let end = |g: &Grid| u32::try_from(g.detail_text.len()).unwrap_or(u32::MAX);
        while self.detail_ends.len() < row {
            let e = end(self);
            self.detail_ends.push(e);
        }
        let start = self.detail_text.len();
        write(&mut self.detail_text);
        let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
        // Bytes first: the text is ASCII but for what came from elsewhere (a UTF-8 name).
        let suspect = self.detail_text.as_bytes()[start..]
            .iter()
            .any(|&b| (b < 0x20 && b != b'\n' && b != b'\t') || b >= 0x7f);
        if suspect && self.detail_text[start..].chars().any(unsafe_char) {
            let clean: String = self.detail_text[start..]
                .chars()
                .map(|c| {
                    if c.is_control() && c != '\n' && c != '\t' {
                        '?'
                    } else {
                        c
                    }
                })
                .collect();
            self.detail_text.truncate(start);
            self.detail_text.push_str(&clean);
        }
        let e = end(self);
        self.detail_ends.truncate(row);
        self.detail_ends.push(e);
    }

    /// The text under `row` (empty when none).
    pub fn detail(&self, row: usize) -> &str {
        let Some(&end) = self.detail_ends.get(row) else {
            return "";
        };
        let start = if row == 0 {
            0
        } else {
            self.detail_ends[row - 1]
        };
        &self.detail_text[start as usize..end as usize]
    }

    /// Whether any row has text under it.
    pub fn has_details(&self) -> bool {
        !self.detail_text.is_empty()
    }

    /// Lets column `col` wrap on a narrow terminal (a process list, a command line).
    pub fn wrap_column(mut self, col: usize) -> Grid {
        self.wrap = Some(col);
        self
    }

    /// Reserves room for `rows` rows of about `bytes_per_row` bytes.
    pub fn reserve(&mut self, rows: usize, bytes_per_row: usize) {
        self.text.reserve(rows * bytes_per_row);
        self.ends.reserve(rows * self.headers.len());
    }

    /// Appends the next cell, in row order.
    pub fn push(&mut self, cell: &str) {
        self.push_with(|buf| buf.push_str(cell));
    }

    /// Appends the next cell, written by `write` straight into the grid's buffer.
    pub fn push_with(&mut self, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        if self.text[start..].chars().any(char::is_control) {
            let clean = printable(&self.text[start..]).into_owned();
            self.text.truncate(start);
            self.text.push_str(&clean);
        }
        let cell = &self.text[start..];
        let width = if cell.is_ascii() {
            cell.len()
        } else {
            cell.chars().count()
        };
        let col = self.ends.len() % self.headers.len();
        self.widths[col] = self.widths[col].max(width);
        self.ends
            .push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
    }

    /// Appends a cell from anything that displays.
    pub fn push_display(&mut self, value: impl std::fmt::Display) {
        self.push_with(|buf| {
            let _ = write!(buf, "{value}");
        });
    }

    /// Number of complete rows.
    pub fn rows(&self) -> usize {
        self.ends.len() / self.headers.len()
    }

    /// The text of one cell.
    pub fn cell(&self, row: usize, col: usize) -> &str {
        let i = row * self.headers.len() + col;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// Plain columns, padded to the widest cell, numbers right-aligned, no trailing spaces;
    /// `marks` (for --watch) adds a first column of +/-.
    pub fn write_plain(&self, w: &mut dyn Write, marks: Option<&[Mark]>) -> io::Result<()> {
        let cols = self.headers.len();
        let mut line = String::with_capacity(256);
        for row in 0..=self.rows() {
            line.clear();
            // Row 0 is the header line.
            let cell = |col: usize| {
                if row == 0 {
                    self.headers[col]
                } else {
                    self.cell(row - 1, col)
                }
            };
            if let Some(m) = marks {
                let mark = if row == 0 {
                    Mark::Same
                } else {
                    m.get(row - 1).copied().unwrap_or(Mark::Same)
                };
                line.push_str(mark.text());
                line.push(' ');
            }
            for col in 0..cols {
                let text = cell(col);
                let width = if text.is_ascii() {
                    text.len()
                } else {
                    text.chars().count()
                };
                let pad = self.widths[col].saturating_sub(width);
                let last = col + 1 == cols;
                if self.right[col] {
                    line.extend(std::iter::repeat_n(' ', pad));
                }
                line.push_str(text);
                if !last {
                    if !self.right[col] {
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    line.push_str("  ");
                }
            }
            let trimmed = line.trim_end();
            w.write_all(trimmed.as_bytes())?;
            w.write_all(b"\n")?;
            if row > 0 {
                let detail = self.detail(row - 1);
                if !detail.is_empty() {
                    w.write_all(detail.as_bytes())?;
                    w.write_all(b"\n")?;
                }
            }
        }
        Ok(())
    }

    /// A comfy-table of the grid for a terminal; `decorate` may colour a cell (row, column).
    pub fn comfy(
        &self,
        style: &Style,
        marks: Option<&[Mark]>,
        decorate: impl Fn(usize, usize, Cell) -> Cell,
    ) -> Table {
        let mut table = comfy_table(style);
        if self.rows() > DYNAMIC_ROWS {
            // Fitting to the terminal width costs ~70 µs a row in comfy-table: for long tables
            // keep natural column widths, so 100,000 sockets still print in a fraction of a second.
            table.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
        }
        let mut header: Vec<Cell> = Vec::new();
        if marks.is_some() {
            header.push(Cell::new(""));
        }
        header.extend(
            self.headers
                .iter()
                .map(|h| Cell::new(h).add_attribute(Attribute::Bold)),
        );
        table.set_header(header);
        for row in 0..self.rows() {
            let mut cells: Vec<Cell> = Vec::new();
            if let Some(m) = marks {
                cells.push(Cell::new(m.get(row).copied().unwrap_or(Mark::Same).text()));
            }
            for col in 0..self.headers.len() {
                let mut c = Cell::new(self.cell(row, col));
                if self.right[col] {
                    c = c.set_alignment(CellAlignment::Right);
                }
                cells.push(if style.color {
                    decorate(row, col, c)
                } else {
                    c
                });
            }
            table.add_row(cells);
        }
        let offset = usize::from(marks.is_some());
        for col in 0..self.headers.len() {
            if Some(col) != self.wrap
                && let Some(c) = table.column_mut(col + offset)
            {
                c.set_constraint(comfy_table::ColumnConstraint::ContentWidth);
            }
        }
        table
    }

    /// Writes the grid as the style says: comfy-table on a terminal, plain columns otherwise.
    pub fn write(
        &self,
        w: &mut dyn Write,
        style: &Style,
        marks: Option<&[Mark]>,
        decorate: impl Fn(usize, usize, Cell) -> Cell,
    ) -> io::Result<()> {
        // A comfy-table cannot put a line of its own under a row: with details, terminals get
        // the aligned columns too, as ss prints them.
        if style.terminal && !self.has_details() {
            writeln!(w, "{}", self.comfy(style, marks, decorate))
        } else {
            self.write_plain(w, marks)
        }
    }
}

/// Tables longer than this are not fitted to the terminal width (see [`Grid::comfy`]).
const DYNAMIC_ROWS: usize = 2000;

/// Header underlined, rows dense: a socket list is read down the columns, and a rule between
/// every row would halve what fits on the screen.
const TABLE_STYLE: TableStyle =
    TableStyle::new().header_separator(LineStyle::none().fill('─').junction('─'));

/// A comfy-table for the terminal: fitted to the width, coloured only when `style` says so.
pub fn comfy_table(style: &Style) -> Table {
    let mut table = Table::new();
    table
        .load_style(TABLE_STYLE)
        .set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    if let Some(width) = style.width {
        table.set_width(width);
    }
    if style.color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip_and_align() {
        let mut g = Grid::new(&["Name", "N", "Last"], &[1]);
        for (a, b, c) in [("x", "1", "tail one"), ("longer", "200", "t")] {
            g.push(a);
            g.push(b);
            g.push(c);
        }
        assert_eq!(g.rows(), 2);
        assert_eq!(g.cell(1, 0), "longer");
        assert_eq!(g.cell(0, 2), "tail one");
        let mut out = Vec::new();
        g.write_plain(&mut out, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "Name      N  Last\nx         1  tail one\nlonger  200  t\n"
        );
    }

    #[test]
    fn details_go_under_their_rows() {
        let mut g = Grid::new(&["A", "B"], &[]);
        for (i, d) in [(1, ""), (2, "\t two\n\t ! more"), (3, "")] {
            g.push_display(i);
            g.push("x");
            if !d.is_empty() {
                g.detail_with(|b| b.push_str(d));
            }
        }
        g.push("4");
        g.push("y");
        g.detail_with(|b| b.push_str("\t four\x1b"));
        let mut out = Vec::new();
        g.write_plain(&mut out, None).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "A  B\n1  x\n2  x\n\t two\n\t ! more\n3  x\n4  y\n\t four?\n"
        );
    }

    #[test]
    fn control_characters_are_defused() {
        let mut g = Grid::new(&["A"], &[]);
        g.push("evil\x1b[2J\nline");
        assert_eq!(g.cell(0, 0), "evil?[2J line");
    }
}
