//! Key bindings: what each key does, the defaults, and `[chat.keys]` of wisp.toml.
//!
//! A binding is written `ctrl-n`, `alt-enter`, `pgup`, `f1`, `tab`, `esc` or one character.

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Action {
    /// Send the input (or run the command).
    Send,
    /// Insert a newline.
    Newline,
    /// Next chat in the list.
    NextChat,
    /// Previous chat in the list.
    PrevChat,
    /// Scroll back one line.
    ScrollUp,
    /// Scroll forward one line.
    ScrollDown,
    /// Scroll back a page.
    PageUp,
    /// Scroll forward a page.
    PageDown,
    /// Cursor left.
    Left,
    /// Cursor right.
    Right,
    /// Cursor to the start.
    Home,
    /// Cursor to the end.
    End,
    /// Delete before the cursor.
    Backspace,
    /// Delete at the cursor.
    Delete,
    /// Complete a command or name.
    Complete,
    /// Show or hide the help.
    Help,
    /// Close help, stop replying/searching, vi normal mode.
    Cancel,
    /// End the program.
    Quit,
}
