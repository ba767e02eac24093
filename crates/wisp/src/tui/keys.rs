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

impl Action {
    /// Every action with its `[chat.keys]` name.
    pub(crate) const ALL: [(&'static str, Action); 18] = [
        ("send", Action::Send),
        ("newline", Action::Newline),
        ("next_chat", Action::NextChat),
        ("prev_chat", Action::PrevChat),
        ("scroll_up", Action::ScrollUp),
        ("scroll_down", Action::ScrollDown),
        ("page_up", Action::PageUp),
        ("page_down", Action::PageDown),
        ("left", Action::Left),
        ("right", Action::Right),
        ("home", Action::Home),
        ("end", Action::End),
        ("backspace", Action::Backspace),
        ("delete", Action::Delete),
        ("complete", Action::Complete),
        ("help", Action::Help),
        ("cancel", Action::Cancel),
        ("quit", Action::Quit),
    ];
}

/// A key with its modifiers, independent of the terminal library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// The key.
    pub(crate) code: Code,
    /// Ctrl held.
    pub(crate) ctrl: bool,
    /// Alt held.
    pub(crate) alt: bool,
}

/// A key without modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Code {
    /// A character (lower case for letters with ctrl/alt).
    Char(char),
    /// Enter.
    Enter,
    /// Tab.
    Tab,
    /// Backspace.
    Backspace,
    /// Delete.
    Delete,
    /// Escape.
    Esc,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Home.
    Home,
    /// End.
    End,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// A function key.
    F(u8),
}

impl Key {
    /// A key without modifiers.
    pub(crate) const fn plain(code: Code) -> Self {
        Self { code, ctrl: false, alt: false }
    }

    const fn ctrl(c: char) -> Self {
        Self { code: Code::Char(c), ctrl: true, alt: false }
    }

    /// Parses `ctrl-n`, `alt-enter`, `pgup`, `f1`, `x`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = text.trim();
        loop {
            let lower = rest.to_ascii_lowercase();
            if let Some(r) = lower.strip_prefix("ctrl-").or_else(|| lower.strip_prefix("c-")) {
                ctrl = true;
                rest = &rest[rest.len() - r.len()..];
            } else if let Some(r) = lower.strip_prefix("alt-").or_else(|| lower.strip_prefix("m-"))
            {
                alt = true;
                rest = &rest[rest.len() - r.len()..];
            } else {
                break;
            }
        }
        let lower = rest.to_ascii_lowercase();
        let code = match lower.as_str() {
            "enter" | "return" => Code::Enter,
            "tab" => Code::Tab,
            "backspace" | "bs" => Code::Backspace,
            "delete" | "del" => Code::Delete,
            "esc" | "escape" => Code::Esc,
            "up" => Code::Up,
            "down" => Code::Down,
            "left" => Code::Left,
            "right" => Code::Right,
            "home" => Code::Home,
            "end" => Code::End,
            "pgup" | "pageup" => Code::PageUp,
            "pgdn" | "pgdown" | "pagedown" => Code::PageDown,
            "space" => Code::Char(' '),
            f if f.len() >= 2
                && f.starts_with('f')
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
            {
                Code::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if ctrl || alt => Code::Char(c.to_ascii_lowercase()),
                    (Some(c), None) => Code::Char(c),
                    _ => {
                        return Err(format!(
                            "{text:?} is not a key; expected a character or a name (enter, tab, \
                             esc, up, down, left, right, home, end, pgup, pgdn, backspace, \
                             delete, space, f1-f12), maybe with ctrl- or alt- before it"
                        ));
                    }
                }
            }
        };
        Ok(Self { code, ctrl, alt })
    }
}

/// The bindings in force.
#[derive(Debug, Clone)]
pub(crate) struct KeyMap {
    map: Vec<(Key, Action)>,
}

impl Default for KeyMap {
    fn default() -> Self {
        use Code::*;
        let map = vec![
            (Key::plain(Enter), Action::Send),
            (Key { code: Enter, ctrl: false, alt: true }, Action::Newline),
            (Key::ctrl('j'), Action::Newline),
            (Key::ctrl('n'), Action::NextChat),
            (Key::ctrl('p'), Action::PrevChat),
            (Key { code: Down, ctrl: false, alt: true }, Action::NextChat),
            (Key { code: Up, ctrl: false, alt: true }, Action::PrevChat),
            (Key::plain(Up), Action::ScrollUp),
            (Key::plain(Down), Action::ScrollDown),
            (Key::plain(PageUp), Action::PageUp),
            (Key::plain(PageDown), Action::PageDown),
            (Key::plain(Left), Action::Left),
            (Key::plain(Right), Action::Right),
            (Key::plain(Home), Action::Home),
            (Key::ctrl('a'), Action::Home),
            (Key::plain(End), Action::End),
            (Key::ctrl('e'), Action::End),
            (Key::plain(Backspace), Action::Backspace),
            (Key::plain(Delete), Action::Delete),
            (Key::plain(Tab), Action::Complete),
            (Key::plain(F(1)), Action::Help),
            (Key::plain(Esc), Action::Cancel),
            (Key::ctrl('c'), Action::Quit),
            (Key::ctrl('d'), Action::Quit),
        ];
        Self { map }
    }
}

impl KeyMap {
    /// The defaults with `[chat.keys]` (action name → key) on top: a configured key replaces
    /// every default key of that action. An error names the key `chat.keys.NAME`.
    pub(crate) fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self, (String, String)> {
        let mut keymap = Self::default();
        for (name, key) in overrides {
            let field = format!("chat.keys.{name}");
            let Some((_, action)) = Action::ALL.iter().find(|(n, _)| n == name) else {
                let names: Vec<&str> = Action::ALL.iter().map(|(n, _)| *n).collect();
                return Err((
                    field,
                    format!("unknown action; expected one of {}", names.join(", ")),
                ));
            };
            let key = Key::parse(key).map_err(|e| (field.clone(), e))?;
            keymap.map.retain(|(k, a)| a != action && *k != key);
            keymap.map.push((key, *action));
        }
        Ok(keymap)
    }

    /// The action bound to `key`.
    pub(crate) fn action(&self, key: Key) -> Option<Action> {
        self.map.iter().find(|(k, _)| *k == key).map(|(_, a)| *a)
    }

    /// The first key bound to `action`, for the help screen.
    pub(crate) fn key_of(&self, action: Action) -> Option<Key> {
        self.map.iter().find(|(_, a)| *a == action).map(|(k, _)| *k)
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        if self.alt {
            f.write_str("Alt-")?;
        }
        match self.code {
            Code::Char(' ') => f.write_str("Space"),
            Code::Char(c) if self.ctrl || self.alt => write!(f, "{}", c.to_ascii_uppercase()),
            Code::Char(c) => write!(f, "{c}"),
            Code::F(n) => write!(f, "F{n}"),
            Code::PageUp => f.write_str("PgUp"),
            Code::PageDown => f.write_str("PgDn"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_print() {
        assert_eq!(Key::parse("ctrl-n").unwrap(), Key::ctrl('n'));
        assert_eq!(Key::parse("Ctrl-N").unwrap(), Key::ctrl('n'));
        assert_eq!(
            Key::parse("alt-enter").unwrap(),
            Key { code: Code::Enter, ctrl: false, alt: true }
        );
        assert_eq!(Key::parse("pgup").unwrap(), Key::plain(Code::PageUp));
        assert_eq!(Key::parse("f5").unwrap(), Key::plain(Code::F(5)));
        assert_eq!(Key::parse("x").unwrap(), Key::plain(Code::Char('x')));
        assert!(Key::parse("ctrl-nope").unwrap_err().contains("not a key"));
        assert_eq!(Key::parse("alt-enter").unwrap().to_string(), "Alt-Enter");
        assert_eq!(Key::ctrl('n').to_string(), "Ctrl-N");
    }

    #[test]
    fn overrides_replace_the_defaults_and_errors_name_the_key() {
        let mut over = std::collections::BTreeMap::new();
        over.insert("next_chat".to_owned(), "ctrl-j".to_owned());
        let map = KeyMap::with_overrides(&over).unwrap();
        assert_eq!(map.action(Key::ctrl('j')), Some(Action::NextChat));
        assert_eq!(map.action(Key::ctrl('n')), None);
        assert_eq!(map.action(Key::plain(Code::Enter)), Some(Action::Send));
        over.insert("jump".to_owned(), "x".to_owned());
        let (key, msg) = KeyMap::with_overrides(&over).unwrap_err();
        assert_eq!(key, "chat.keys.jump");
        assert!(msg.contains("next_chat"), "{msg}");
        let mut bad = std::collections::BTreeMap::new();
        bad.insert("quit".to_owned(), "hyper-q".to_owned());
        assert_eq!(KeyMap::with_overrides(&bad).unwrap_err().0, "chat.keys.quit");
    }
}
