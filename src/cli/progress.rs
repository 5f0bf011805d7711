//! Progress bars on stderr, hidden when stderr is not a terminal or output is JSON.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub fn bytes(total: Option<u64>, quiet: bool) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total),
        None => ProgressBar::no_length(),
    };
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let template = if total.is_some() {
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}"
    } else {
        "{spinner} {bytes} {bytes_per_sec}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
