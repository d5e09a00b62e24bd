//! Short type names for plots and messages.

/// `std::any::type_name::<T>()` without module paths:
/// `my_game::Bullet` becomes `Bullet`, `a::Wrap<b::C, d::E>` becomes
/// `Wrap<C, E>`.
pub(crate) fn short_type_name<T: ?Sized>() -> String {
    shorten(std::any::type_name::<T>())
}

pub(crate) fn shorten(full: &str) -> String {
    let mut out = String::with_capacity(full.len());
    // Where the path being read started in `out`.
    let mut segment_start = 0;
    let mut chars = full.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ':' if chars.peek() == Some(&':') => {
                chars.next();
                out.truncate(segment_start);
            }
            c if c.is_alphanumeric() || c == '_' => out.push(c),
            c => {
                out.push(c);
                segment_start = out.len();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::shorten;

    #[test]
    fn strips_paths_everywhere() {
        assert_eq!(shorten("my_game::Bullet"), "Bullet");
        assert_eq!(shorten("Bullet"), "Bullet");
        assert_eq!(shorten("a::Wrap<b::c::C, [d::E; 3]>"), "Wrap<C, [E; 3]>");
        assert_eq!(shorten("(a::A, &'static b::B)"), "(A, &'static B)");
    }
}
