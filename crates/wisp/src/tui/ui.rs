//! Drawing the [`App`] with ratatui: the chat list, the open chat, the input and the status
//! line; narrow terminals drop the list; wide (CJK, emoji) text is measured by its columns.

use ratatui::{
    Frame,
    layout::{Constraint, Direction, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Clear, Paragraph},
};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::{
    app::{App, COMMANDS, ChatKind, Delivery, EMOJIS, Message, MessageKind, Mode},
    keys::{Action, KeyMap},
};

/// Below this width the chat list is hidden (the title line names the open chat).
const NARROW: u16 = 60;
/// The columns left of a message: the identicon (5) and a space.
const GUTTER: u16 = 6;
/// Lines the input may grow to.
const MAX_INPUT_LINES: usize = 5;

/// Sender colours: picked by the sender's key so a person keeps theirs.
const PALETTE: [Color; 10] = [
    Color::Rgb(250, 101, 101),
    Color::Rgb(136, 122, 249),
    Color::Rgb(254, 143, 89),
    Color::Rgb(124, 218, 0),
    Color::Rgb(81, 208, 240),
    Color::Rgb(211, 126, 244),
    Color::Rgb(240, 200, 60),
    Color::Rgb(80, 200, 150),
    Color::Rgb(230, 120, 180),
    Color::Rgb(150, 170, 255),
];

/// The colour of the author with chat key `from`.
pub(crate) fn sender_color(from: &str) -> Color {
    // FNV-1a: stable across runs and platforms.
    let mut h: u32 = 0x811c_9dc5;
    for b in from.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    PALETTE.get(h as usize % PALETTE.len()).copied().unwrap_or(Color::White)
}

/// Draws the whole screen.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App, keys: &KeyMap) {
    let area = frame.area();
    if area.width < 4 || area.height < 3 {
        return;
    }
    let input_width = usize::from(area.width.saturating_sub(2)).max(1);
    let input_lines = wrap(&input_shown(app), input_width).len().clamp(1, MAX_INPUT_LINES);
    let extra = u16::from(app.notice.is_some()) + u16::from(app.replying.is_some());
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Min(1),
            Constraint::Length(extra),
            Constraint::Length(input_lines as u16),
            Constraint::Length(1),
        ])
        .split(area);
    let (main, notes, input, status) = (rows[0], rows[1], rows[2], rows[3]);
    if area.width >= NARROW {
        let list_width = (area.width / 4).clamp(18, 32);
        let cols = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Length(list_width), Constraint::Min(1)])
            .split(main);
        draw_list(frame, app, cols[0]);
        draw_chat(frame, app, cols[1], false);
    } else {
        draw_chat(frame, app, main, true);
    }
    draw_notes(frame, app, notes);
    draw_input(frame, app, input);
    draw_status(frame, app, status);
    if app.help {
        draw_help(frame, keys, area);
    }
}

fn draw_list(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let block = Block::default().borders(Borders::RIGHT).title(" chats ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    for chat in &app.chats {
        let open = app.open.as_deref() == Some(chat.id.as_str());
        let sigil = match chat.kind {
            ChatKind::Public => "",
            ChatKind::OneToOne => "@",
            ChatKind::Group => "+",
        };
        let invited = app.invited(chat);
        let count = match (invited, chat.unread) {
            (true, _) => " invited".to_owned(),
            (false, 0) => String::new(),
            (false, n) => format!(" {n}"),
        };
        let name = truncate(&format!("{sigil}{}", chat.name), width.saturating_sub(count.width()));
        let pad = width.saturating_sub(name.width() + count.width());
        let mut style = Style::default();
        if open {
            style = style.add_modifier(Modifier::REVERSED);
        }
        if chat.unread > 0 {
            style = style.add_modifier(Modifier::BOLD);
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{name}{}", " ".repeat(pad)), style),
            Span::styled(count, style.fg(Color::Yellow)),
        ]));
        let last = chat.last.as_deref().unwrap_or("");
        lines.push(Line::from(Span::styled(
            truncate(&format!(" {}", last.replace('\n', " ")), width),
            Style::default().fg(Color::DarkGray),
        )));
    }
    if app.chats.is_empty() {
        lines.push(Line::from("no chats yet"));
        lines.push(Line::from(Span::styled("/join #name", Style::default().fg(Color::DarkGray))));
    }
    // Keep the open chat visible.
    let pos = app.open.as_ref().and_then(|id| app.chats.iter().position(|c| &c.id == id));
    let skip = pos.map_or(0, |p| (p * 2 + 2).saturating_sub(usize::from(inner.height)));
    let shown: Vec<Line<'_>> = lines.into_iter().skip(skip).collect();
    frame.render_widget(Paragraph::new(shown), inner);
}

/// One screen line of the message pane: the gutter (identicon) and the text spans.
struct Row {
    gutter: Vec<Span<'static>>,
    body: Vec<Span<'static>>,
}

fn draw_chat(frame: &mut Frame<'_>, app: &App, area: Rect, narrow: bool) {
    let Some(chat) = app.open_chat() else {
        let text = vec![
            Line::from("No chat is open."),
            Line::from(""),
            Line::from("  /join #status     join a public chat"),
            Line::from("  /msg KEY          write to someone (0x04… or zQ3… key)"),
            Line::from("  /help             every command and key"),
        ];
        frame.render_widget(Paragraph::new(text), area);
        return;
    };
    let mut title = match chat.kind {
        ChatKind::Public => chat.name.clone(),
        ChatKind::OneToOne => format!("@{}", chat.name),
        ChatKind::Group => format!("+{}", chat.name),
    };
    if app.invited(chat) {
        title.push_str("  (invited: /accept joins, /leave declines)");
    }
    if let Some(term) = &app.search {
        title.push_str(&format!("  [search: {term}]"));
    }
    let elsewhere = app.unread_elsewhere();
    if narrow && elsewhere > 0 {
        title.push_str(&format!("  ({elsewhere} unread elsewhere)"));
    }
    let title_line = Line::from(Span::styled(
        truncate(&title, usize::from(area.width)),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    let (head, body) = (
        Rect { height: 1, ..area },
        Rect { y: area.y + 1, height: area.height.saturating_sub(1), ..area },
    );
    frame.render_widget(Paragraph::new(title_line), head);
    let gutter = if area.width >= 30 { GUTTER } else { 0 };
    let text_width = usize::from(area.width.saturating_sub(gutter)).max(1);
    let messages = app.visible_messages();
    let want = usize::from(body.height) + app.scroll;
    // Lay out from the newest message back until the screen (and the scroll) is filled.
    let mut rows: Vec<Row> = Vec::new();
    for (i, message) in messages.iter().enumerate().rev() {
        let previous = i.checked_sub(1).and_then(|p| messages.get(p));
        let starts_run = previous.is_none_or(|p| p.from != message.from);
        let name = app.name_of(&message.from, &message.alias);
        let mut block = message_rows(message, name, starts_run, text_width, gutter > 0);
        if let Some(row) = reaction_row(app, &message.id, text_width) {
            block.push(row);
        }
        block.append(&mut rows);
        rows = block;
        if rows.len() >= want {
            break;
        }
    }
    if messages.is_empty() {
        let empty = if app.search.is_some() { "no message matches" } else { "no messages yet" };
        rows.push(Row {
            gutter: Vec::new(),
            body: vec![Span::styled(empty, Style::default().fg(Color::DarkGray))],
        });
    }
    let height = usize::from(body.height);
    let end = rows
        .len()
        .saturating_sub(app.scroll.min(rows.len().saturating_sub(height.min(rows.len()))));
    let start = end.saturating_sub(height);
    // The newest message sits at the bottom, as in every chat.
    let mut lines: Vec<Line<'_>> = vec![Line::from(""); height.saturating_sub(end - start)];
    lines.extend(rows.drain(start..end).map(|row| {
        let mut spans = row.gutter;
        let used: usize = spans.iter().map(|s| s.content.width()).sum();
        if gutter > 0 {
            spans.push(Span::raw(" ".repeat(usize::from(gutter).saturating_sub(used))));
        }
        spans.extend(row.body);
        Line::from(spans)
    }));
    // The mailserver is asked for older history: said on the top line while it runs.
    if app.fetching_older()
        && let Some(top) = lines.first_mut()
    {
        *top = Line::from(Span::styled(
            truncate("⟳ fetching older messages…", usize::from(area.width)),
            Style::default().fg(Color::Cyan).add_modifier(Modifier::ITALIC),
        ));
    }
    frame.render_widget(Paragraph::new(lines), body);
}

/// The rows of one message: a header when the author changes, the quote, the wrapped text with
/// the delivery mark of ours after it; the identicon in the gutter of a header's rows.
fn message_rows(m: &Message, name: &str, header: bool, width: usize, identicon: bool) -> Vec<Row> {
    let color = sender_color(&m.from);
    let mut rows = Vec::new();
    if header {
        rows.push(Row {
            gutter: Vec::new(),
            body: vec![
                Span::styled(
                    truncate(name, width.saturating_sub(7)),
                    Style::default().fg(color).add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!("  {}", clock_time(m.timestamp_ms)),
                    Style::default().fg(Color::DarkGray),
                ),
            ],
        });
    }
    if let Some(q) = &m.quote {
        let quoted = truncate(&format!("┃ {}: {}", q.alias, q.text.replace('\n', " ")), width);
        rows.push(Row {
            gutter: Vec::new(),
            body: vec![Span::styled(quoted, Style::default().fg(Color::DarkGray))],
        });
    }
    let (text, style) = match &m.kind {
        MessageKind::Text => (m.text.clone(), Style::default()),
        MessageKind::System => {
            (m.text.clone(), Style::default().fg(Color::DarkGray).add_modifier(Modifier::ITALIC))
        }
        MessageKind::Unsupported(t) => {
            (format!("[content type {t} not shown]"), Style::default().fg(Color::DarkGray))
        }
    };
    let mark = m.delivery.map(|d| format!(" {}", d.mark()));
    let mark_width = mark.as_deref().map_or(0, UnicodeWidthStr::width);
    let mut wrapped = wrap(&text, width);
    // The mark goes after the last line if it fits, else on a line of its own.
    let fits = wrapped.last().is_some_and(|l| l.width() + mark_width <= width);
    let count = wrapped.len();
    for (i, line) in wrapped.drain(..).enumerate() {
        let mut body = Vec::new();
        // Right-to-left text keeps its characters in logical order (the terminal shapes and
        // orders them) and ends at the right edge, the mark of ours included.
        if m.rtl {
            let mark = if i + 1 == count && fits { mark_width } else { 0 };
            let pad = width.saturating_sub(line.width() + mark);
            if pad > 0 {
                body.push(Span::raw(" ".repeat(pad)));
            }
        }
        body.push(Span::styled(line, style));
        rows.push(Row { gutter: Vec::new(), body });
    }
    if let (Some(mark), Some(d)) = (mark, m.delivery) {
        let mark_style = Style::default().fg(match d {
            Delivery::Failed => Color::Red,
            Delivery::Delivered => Color::Green,
            _ => Color::DarkGray,
        });
        let span = Span::styled(mark, mark_style);
        match rows.last_mut() {
            Some(row) if fits => row.body.push(span),
            _ => rows.push(Row { gutter: Vec::new(), body: vec![span] }),
        }
    }
    if header && identicon {
        // Three rows of half blocks draw the 5×5 cells; the block grows to hold them.
        while rows.len() < 3 {
            rows.push(Row { gutter: Vec::new(), body: Vec::new() });
        }
        let cells = m.identicon.map(|i| (i.cells, i.rgb));
        for (r, row) in rows.iter_mut().take(3).enumerate() {
            row.gutter = identicon_row(cells, r);
        }
    }
    rows
}

/// The line under a message: 📌 when it is pinned, then each emoji with its count (ours
/// highlighted); none when there is neither.
fn reaction_row(app: &App, id: &str, width: usize) -> Option<Row> {
    let (reactions, pinned) = app.reactions_of(id);
    if reactions.is_empty() && !pinned {
        return None;
    }
    let mut body = Vec::new();
    let mut used = 0;
    let mut push = |text: String, style: Style| {
        let text = truncate(&text, width.saturating_sub(used));
        used += text.width();
        body.push(Span::styled(text, style));
    };
    if pinned {
        push("📌 pinned ".into(), Style::default().fg(Color::Yellow));
    }
    for (emoji, count, mine) in reactions {
        let glyph = EMOJIS.get(usize::from(emoji).wrapping_sub(1)).copied().unwrap_or("?");
        let style = if mine {
            Style::default().fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(Color::DarkGray)
        };
        push(format!("{glyph} {count} "), style);
    }
    Some(Row { gutter: Vec::new(), body })
}

/// Row `r` (0..3) of an identicon: pixel rows 2r and 2r+1 as upper/lower half blocks.
fn identicon_row(cells: Option<([[bool; 5]; 5], [u8; 3])>, r: usize) -> Vec<Span<'static>> {
    let Some((cells, [red, green, blue])) = cells else { return Vec::new() };
    let fg = Color::Rgb(red, green, blue);
    let empty = [false; 5];
    let top = cells.get(2 * r).unwrap_or(&empty);
    let bottom = cells.get(2 * r + 1).unwrap_or(&empty);
    let glyphs: String = top
        .iter()
        .zip(bottom.iter())
        .map(|(t, b)| match (t, b) {
            (true, true) => '█',
            (true, false) => '▀',
            (false, true) => '▄',
            (false, false) => ' ',
        })
        .collect();
    vec![Span::styled(glyphs, Style::default().fg(fg))]
}

fn draw_notes(frame: &mut Frame<'_>, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let width = usize::from(area.width);
    let mut lines = Vec::new();
    if let Some(m) = app.replying_to() {
        lines.push(Line::from(Span::styled(
            truncate(
                &format!(
                    "↳ replying to {}: {}",
                    app.name_of(&m.from, &m.alias),
                    m.text.replace('\n', " ")
                ),
                width,
            ),
            Style::default().fg(Color::Cyan),
        )));
    }
    if let Some(notice) = &app.notice {
        lines.push(Line::from(Span::styled(
            truncate(notice, width),
            Style::default().fg(Color::Yellow),
        )));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// The input as drawn (a prompt first).
fn input_shown(app: &App) -> String {
    let prompt = if app.mode == Mode::Normal { ": " } else { "> " };
    format!("{prompt}{}", app.input)
}

fn draw_input(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let width = usize::from(area.width).max(1);
    let shown = input_shown(app);
    let wrapped = wrap(&shown, width);
    // The cursor: where the text before it ends.
    let before: String = shown.chars().take(app.cursor + 2).collect();
    let before_lines = wrap(&before, width);
    let cursor_row = before_lines.len().saturating_sub(1);
    let mut cursor_col = before_lines.last().map_or(0, |l| l.width());
    let mut cursor_row = cursor_row;
    if cursor_col >= width {
        cursor_row += 1;
        cursor_col = 0;
    }
    let height = usize::from(area.height).max(1);
    let skip = (cursor_row + 1).saturating_sub(height);
    let lines: Vec<Line<'_>> = wrapped.into_iter().skip(skip).map(Line::from).collect();
    let style = if app.mode == Mode::Normal {
        Style::default().fg(Color::DarkGray)
    } else {
        Style::default()
    };
    frame.render_widget(Paragraph::new(lines).style(style), area);
    if !app.help && app.mode == Mode::Insert {
        let x = area.x + (cursor_col as u16).min(area.width.saturating_sub(1));
        let y = area.y + ((cursor_row - skip) as u16).min(area.height.saturating_sub(1));
        frame.set_cursor_position((x, y));
    }
}

fn draw_status(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let s = &app.status;
    let mut spans = Vec::new();
    if let (true, Some((key, _))) = (app.key_shown, &app.me) {
        // `/key`: the keys take the line (the short one first, so it shows on narrow ones).
        spans.push(Span::styled("my key ", Style::default().fg(Color::Cyan)));
        if let Some(compressed) = &app.me_compressed {
            spans.push(Span::raw(format!("{compressed}  ")));
        }
        spans.push(Span::raw(key.clone()));
    } else if s.online {
        spans.push(Span::styled("● ", Style::default().fg(Color::Green)));
        spans.push(Span::raw(format!("{} peer{}", s.peers, if s.peers == 1 { "" } else { "s" })));
    } else {
        spans.push(Span::styled("○ offline", Style::default().fg(Color::Red)));
    }
    spans.push(Span::raw("  mailserver: "));
    spans.push(Span::raw(s.mailserver.clone().unwrap_or_else(|| "none".into())));
    if let Some((_, 0)) = s.history {
        spans.push(Span::styled("  history: fetching…", Style::default().fg(Color::Cyan)));
    } else if let Some((done, total)) = s.history {
        let cells = 10usize;
        let filled =
            if total == 0 { 0 } else { (done as usize * cells / total as usize).min(cells) };
        spans.push(Span::raw("  history "));
        spans.push(Span::styled("█".repeat(filled), Style::default().fg(Color::Cyan)));
        spans.push(Span::styled("░".repeat(cells - filled), Style::default().fg(Color::DarkGray)));
        spans.push(Span::raw(format!(" {done}/{total}")));
    }
    if let (false, Some((_, alias))) = (app.key_shown, &app.me) {
        spans.push(Span::styled(format!("  {alias}"), Style::default().fg(Color::DarkGray)));
    }
    if app.vi && app.mode == Mode::Normal {
        spans.push(Span::styled("  -- NORMAL --", Style::default().add_modifier(Modifier::BOLD)));
    }
    spans.push(Span::styled("  F1 help", Style::default().fg(Color::DarkGray)));
    // Cut at the width, span by span.
    let mut left = usize::from(area.width);
    let mut cut = Vec::new();
    for span in spans {
        if left == 0 {
            break;
        }
        let text = truncate(&span.content, left);
        left = left.saturating_sub(text.width());
        cut.push(Span::styled(text, span.style));
    }
    frame.render_widget(
        Paragraph::new(Line::from(cut)).style(Style::default().bg(Color::Rgb(30, 30, 40))),
        area,
    );
}

fn draw_help(frame: &mut Frame<'_>, keys: &KeyMap, area: Rect) {
    let width = area.width.saturating_sub(4).min(78);
    let height = area.height.saturating_sub(2).min(60);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines =
        vec![Line::from(Span::styled("Commands", Style::default().add_modifier(Modifier::BOLD)))];
    for (_, help) in COMMANDS {
        lines.push(Line::from(format!("  {help}")));
    }
    lines.push(Line::from("  //text — send text starting with /"));
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("Keys", Style::default().add_modifier(Modifier::BOLD))));
    let key_help = [
        (Action::Send, "send"),
        (Action::Newline, "new line"),
        (Action::NextChat, "next chat"),
        (Action::PrevChat, "previous chat"),
        (Action::ScrollUp, "scroll back"),
        (Action::PageUp, "page back (older pages load)"),
        (Action::PageDown, "page forward"),
        (Action::Complete, "complete a command"),
        (Action::Cancel, "close / cancel reply or search"),
        (Action::Quit, "quit"),
    ];
    for (action, what) in key_help {
        if let Some(key) = keys.key_of(action) {
            lines.push(Line::from(format!("  {:<12} {what}", key.to_string())));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from("  marks: … sending  ✓ sent  ✓✓ delivered  ✗ failed (/resend)"));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title(" help — Esc closes ")),
        popup,
    );
}

/// `HH:MM` UTC of Unix milliseconds.
pub(crate) fn clock_time(ms: u64) -> String {
    let secs = ms / 1000 % 86_400;
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// `text` cut to `width` columns, with `…` when cut.
pub(crate) fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Wraps `text` into lines of at most `width` columns: at spaces where it can, inside a word
/// longer than a line, and at every newline. A double-width character never straddles lines.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(2);
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        for word in paragraph.split_inclusive(' ') {
            let w = word.width();
            if used + w.saturating_sub(usize::from(word.ends_with(' '))) <= width {
                line.push_str(word);
                used += w;
                continue;
            }
            if used > 0 && w <= width {
                lines.push(line.trim_end().to_owned());
                line = word.to_owned();
                used = w;
                continue;
            }
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if used + cw > width {
                    lines.push(std::mem::take(&mut line).trim_end().to_owned());
                    used = 0;
                }
                line.push(c);
                used += cw;
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use ratatui::{Terminal, backend::TestBackend};

    use super::super::app::{
        Event, Identicon, NetStatus, Quote,
        tests::{chat, msg},
    };
    use super::*;

    /// The screen as lines of text (wide characters take their cells; the cell after one is
    /// skipped so the line reads as typed).
    pub(crate) fn render(app: &App, w: u16, h: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| draw(f, app, &KeyMap::default())).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut lines = Vec::new();
        for y in 0..h {
            let mut line = String::new();
            let mut skip = 0;
            for x in 0..w {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                let symbol = buffer[(x, y)].symbol();
                skip = symbol.width().saturating_sub(1);
                line.push_str(symbol);
            }
            lines.push(line.trim_end().to_owned());
        }
        lines
    }

    fn sample() -> App {
        let mut app = App::new(false);
        app.handle(Event::Resize(80, 16));
        app.handle(Event::Chats(vec![
            chat("status", ChatKind::Public, 0, 50),
            chat("Bob Jolly Hare", ChatKind::OneToOne, 2, 40),
            chat("random", ChatKind::Public, 11, 30),
        ]));
        let bob = "0x04bb";
        let me = "0x04aa";
        let mut first = msg("0x1", bob, "Bob Jolly Hare", "Is anyone here?", 601);
        first.identicon =
            Some(Identicon { cells: [[true, false, true, false, true]; 5], rgb: [200, 10, 10] });
        let mut reply = msg("0x2", me, "Quiet Brave Owl", "Yes, hello!", 602);
        reply.quote =
            Some(Quote { alias: "Bob Jolly Hare".into(), text: "Is anyone here?".into() });
        reply.delivery = Some(Delivery::Delivered);
        let mut second = msg("0x3", me, "Quiet Brave Owl", "Second try", 603);
        second.delivery = Some(Delivery::Failed);
        let mut third = msg("0x4", me, "Quiet Brave Owl", "On its way", 604);
        third.delivery = Some(Delivery::Sending);
        app.handle(Event::Messages {
            chat: "status".into(),
            page: vec![third, second, reply, first],
            cursor: String::new(),
            older: false,
        });
        app.handle(Event::Status(NetStatus {
            online: true,
            peers: 3,
            mailserver: Some("1 trusted".into()),
            history: Some((2, 4)),
        }));
        app
    }

    #[test]
    fn group_chats_show_with_their_marker_and_invitations() {
        let mut app = sample();
        app.handle(Event::Me { key: "0x04aa".into(), alias: "Quiet Brave Owl".into() });
        let mut team = chat("0xg1", ChatKind::Group, 1, 45);
        team.name = "team".into();
        let mut night = chat("0xg2", ChatKind::Group, 3, 20);
        night.name = "night shift".into();
        night.not_joined = vec!["0x04aa".into()];
        let mut chats = app.chats.clone();
        chats.extend([team, night]);
        app.handle(Event::Chats(chats));
        let lines = render(&app, 120, 16);
        let team = find(&lines, "+team");
        assert!(lines[team].contains(" 1"), "{}", lines[team]);
        assert!(lines[team + 1].contains("x: last of 0xg1"), "{}", lines[team + 1]);
        assert!(find(&lines, "#status") < team && team < find(&lines, "@Bob Jolly Hare"));
        let night = find(&lines, "+night shift");
        assert!(lines[night].contains("invited"), "{}", lines[night]);
        // Opened, the title says what to do with the invitation.
        app.handle(Event::Action(Action::PrevChat));
        assert_eq!(app.open.as_deref(), Some("0xg2"));
        let lines = render(&app, 120, 16);
        let title = find(&lines, "+night shift  (invited: /accept joins");
        assert!(lines[title].contains("│"), "the title is in the chat pane: {}", lines[title]);
    }

    #[test]
    fn reactions_and_pins_render_under_their_message() {
        let mut app = sample();
        app.handle(Event::Me { key: "0x04aa".into(), alias: "Quiet Brave Owl".into() });
        let r = |id: &str, emoji, from: &str| super::super::app::Reaction {
            id: id.into(),
            message: "0x2".into(),
            emoji,
            from: from.into(),
        };
        app.handle(Event::Reactions {
            chat: "status".into(),
            list: vec![r("0xr1", 1, "0x04bb"), r("0xr2", 2, "0x04bb"), r("0xr3", 2, "0x04aa")],
        });
        app.handle(Event::Pins { chat: "status".into(), ids: vec!["0x4".into()] });
        let lines = render(&app, 80, 20);
        let yes = find(&lines, "Yes, hello! ✓✓");
        assert!(lines[yes + 1].contains("❤ 1 👍 2"), "under its message: {lines:#?}");
        assert!(lines[yes + 2].contains("Second try"), "{lines:#?}");
        let last = find(&lines, "On its way");
        assert!(lines[last + 1].contains("📌 pinned"), "{lines:#?}");
        let second = find(&lines, "Second try");
        assert_eq!(second + 1, last, "no row under a message without reactions");
    }

    #[test]
    fn the_fetching_line_shows_while_the_mailserver_is_asked() {
        let mut app = sample();
        let before = render(&app, 80, 16);
        assert!(before.iter().all(|l| !l.contains("fetching older")), "{before:#?}");
        // Everything the database has is on screen: scrolling up asks the mailserver.
        let out = app.handle(Event::Action(Action::PageUp));
        assert_eq!(out, [super::super::app::Request::SyncOlder("status".into())]);
        let lines = render(&app, 80, 16);
        let at = find(&lines, "⟳ fetching older messages…");
        assert_eq!(at, 1, "the chat view's top line, under the title: {lines:#?}");
        assert!(lines[0].contains("#status") || lines[0].contains("status"), "{lines:#?}");
        assert!(lines[at].contains("│"), "in the chat pane: {}", lines[at]);
        // The messages are still there.
        find(&lines, "On its way");
        app.handle(Event::Synced { chat: "status".into(), result: Ok(0) });
        let after = render(&app, 80, 16);
        assert!(after.iter().all(|l| !l.contains("fetching older")), "{after:#?}");
    }

    #[test]
    fn right_to_left_messages_render_intact_and_aligned_right() {
        let mut app = App::new(false);
        app.handle(Event::Resize(60, 14));
        app.handle(Event::Chats(vec![chat("status", ChatKind::Public, 0, 50)]));
        let hebrew = "שלום עולם, מה שלומך היום? הכל טוב אצלי";
        let arabic = "مَرْحَبًا بِالْعَالَمِ";
        let mixed = "שלום wisp 1.0 مرحبا";
        let mut page = Vec::new();
        for (i, text) in [hebrew, arabic, mixed].into_iter().enumerate() {
            let mut m = msg(&format!("0x{i}"), "0x04bb", "Bob", text, i as u64 + 1);
            m.rtl = true;
            page.push(m);
        }
        page.push(msg("0x9", "0x04bb", "Bob", "plain left", 9));
        app.handle(Event::Messages {
            chat: "status".into(),
            page,
            cursor: String::new(),
            older: false,
        });
        let lines = render(&app, 60, 14);
        // The chat pane's text column: where the left-aligned message starts.
        let left = find(&lines, "plain left");
        let byte = lines[left].find("plain left").unwrap();
        let column = lines[left][..byte].chars().count();
        let tail = |l: &str| l.chars().skip(column).collect::<String>();
        let right_edge = |l: &str| l.trim_end().width();
        // Narrow chat pane: the Hebrew text wraps at spaces, each line ends at the right edge,
        // and the lines read back as the message.
        let first = find(&lines, "שלום עולם,");
        let mut hebrew_lines = Vec::new();
        let mut at = first;
        while !lines[at].contains("مَرْحَبًا") {
            hebrew_lines.push(tail(&lines[at]).trim().to_owned());
            at += 1;
        }
        assert!(hebrew_lines.len() >= 2, "wrapped: {lines:#?}");
        assert_eq!(hebrew_lines.join(" "), hebrew, "no character lost or reordered");
        let edge = right_edge(&lines[first]);
        for l in first..at {
            assert_eq!(right_edge(&lines[l]), edge, "aligned right: {lines:#?}");
        }
        assert!(tail(&lines[first]).starts_with(' '), "padded on the left: {:?}", lines[first]);
        // Arabic with its vowel marks, and mixed lines, keep every character in order.
        let a = find(&lines, arabic);
        assert_eq!(right_edge(&lines[a]), edge);
        let x = find(&lines, mixed);
        assert_eq!(right_edge(&lines[x]), edge);
        // Left-to-right text stays at the left.
        assert!(right_edge(&lines[left]) < edge);
    }

    #[test]
    fn key_shows_on_the_status_line() {
        let mut app = sample();
        let secret = wisp_crypto::SecretKey::from_bytes(&[7; 32]).unwrap();
        let key = format!("0x{}", hex::encode(secret.public_key().to_uncompressed()));
        app.handle(Event::Me { key: key.clone(), alias: "Quiet Brave Owl".into() });
        app.input = "/key".into();
        app.handle(Event::Action(Action::Send));
        let lines = render(&app, 200, 16);
        let zq3 = app.me_compressed.clone().unwrap();
        let status = &lines[15];
        assert!(status.starts_with(&format!("my key {zq3}  {key}")), "{status}");
        assert!(lines[13].contains("chat key copied"), "{lines:#?}");
        let narrow = render(&app, 70, 16);
        assert!(narrow[15].contains(&zq3), "the zQ3 key fits 70 columns: {}", narrow[15]);
    }

    #[test]
    fn contact_names_replace_aliases() {
        let mut app = sample();
        app.handle(Event::Contacts(vec![("0x04bb".into(), "Bobby Tables".into())]));
        let lines = render(&app, 80, 16);
        let header = find(&lines, "Bobby Tables  10:01");
        assert!(lines[header].contains("█ █ █"), "{}", lines[header]);
        assert!(lines.iter().all(|l| !l.contains("Bob Jolly Hare  10:01")), "{lines:#?}");
    }

    fn find(lines: &[String], needle: &str) -> usize {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", lines.join("\n")))
    }

    #[test]
    fn chat_list_shows_kinds_unread_and_last_messages_by_activity() {
        let lines = render(&sample(), 80, 16);
        let status = find(&lines, "#status");
        let bob = find(&lines, "@Bob Jolly Hare");
        let random = find(&lines, "#random");
        assert!(status < bob && bob < random, "{lines:#?}");
        assert!(lines[bob].contains(" 2"), "{}", lines[bob]);
        assert!(lines[random].contains("11"), "{}", lines[random]);
        assert!(lines[random + 1].contains("x: last of random"), "{}", lines[random + 1]);
    }

    #[test]
    fn open_chat_shows_alias_time_identicon_reply_and_marks() {
        let lines = render(&sample(), 80, 16);
        let header = find(&lines, "Bob Jolly Hare  10:01");
        assert!(lines[header].contains("█ █ █"), "identicon beside the header: {}", lines[header]);
        let quote = find(&lines, "┃ Bob Jolly Hare: Is anyone here?");
        assert!(quote > header);
        let yes = find(&lines, "Yes, hello! ✓✓");
        assert_eq!(yes, quote + 1);
        assert!(lines[find(&lines, "Second try")].contains("✗ failed"));
        assert!(lines[find(&lines, "On its way")].contains("…"));
        let status = &lines[15];
        assert!(status.contains("3 peers") && status.contains("1 trusted"), "{status}");
        assert!(status.contains("history ") && status.contains("2/4"), "{status}");
        assert_eq!(lines[14], ">", "the input line");
    }

    #[test]
    fn narrow_terminal_drops_the_list_and_keeps_the_chat() {
        let lines = render(&sample(), 30, 14);
        assert!(lines.iter().all(|l| !l.contains("#random")), "{lines:#?}");
        assert!(lines[0].starts_with("#status") && lines[0].contains("13 unread"), "{}", lines[0]);
        find(&lines, "On its way");
        // Tiny terminals draw what fits without panicking.
        for (w, h) in [(1, 1), (4, 3), (10, 4), (12, 2)] {
            render(&sample(), w, h);
        }
    }

    #[test]
    fn wide_characters_wrap_by_columns() {
        let mut app = App::new(false);
        app.handle(Event::Chats(vec![chat("日本", ChatKind::Public, 0, 1)]));
        let text = "漢字かな交じり文😀テキスト".repeat(3);
        app.handle(Event::Messages {
            chat: "日本".into(),
            page: vec![msg("0x1", "0x04cc", "Wide Text Writer", &text, 1)],
            cursor: String::new(),
            older: false,
        });
        let lines = render(&app, 40, 12);
        find(&lines, "#日本");
        // Every line fits the terminal: counted in columns, no cell overflows.
        for line in &lines {
            assert!(line.width() <= 40, "{line:?} is {} columns", line.width());
        }
        let joined: String = lines.iter().map(|l| l.trim()).collect();
        assert!(joined.contains("漢字かな交じり文😀"), "{lines:#?}");
        assert_eq!(wrap("日本語", 4), ["日本", "語"]);
        assert_eq!(wrap("ab cd ef", 5), ["ab cd", "ef"]);
        assert_eq!(wrap("line\nnext", 10), ["line", "next"]);
        assert_eq!(truncate("日本語です", 5), "日本…");
    }

    #[test]
    fn help_lists_commands_and_keys() {
        let mut app = sample();
        app.help = true;
        let lines = render(&app, 80, 50);
        find(&lines, "help — Esc closes");
        for needle in [
            "/join #name",
            "/msg KEY",
            "/leave",
            "/resend",
            "/search",
            "/quit",
            "/group new",
            "/invite",
            "/kick",
            "/accept",
            "/react [N] EMOJI",
            "/pin [N]",
            "/unpin",
        ] {
            find(&lines, needle);
        }
        find(&lines, "Ctrl-N");
        find(&lines, "Alt-Enter");
        find(&lines, "PgUp");
    }

    /// Prints the sample screen (for the README): `cargo test -p wisp --bin wisp
    /// print_sample_screen -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints a screen; not a check"]
    fn print_sample_screen() {
        println!("{}", render(&sample(), 80, 16).join("\n"));
    }

    #[test]
    fn senders_keep_their_colour() {
        assert_eq!(sender_color("0x04aa"), sender_color("0x04aa"));
        let colours: std::collections::HashSet<String> =
            (0..50).map(|i| format!("{:?}", sender_color(&format!("0x04{i}")))).collect();
        assert!(colours.len() > 5, "{colours:?}");
    }
}
