//! The "simple pattern" of a text field: a small, dependency-free subset of regular
//! expressions (the `regex` crate alone would outweigh the whole page), always anchored.
//!
//! Supported: literal characters, `\` escapes, `.`, classes `[a-z_]` and `[^...]`, and the
//! quantifiers `?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`. No groups or alternation.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
struct Item {
    atom: Atom,
    min: usize,
    max: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Atom {
    Any,
    Char(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Any => true,
            Atom::Char(x) => *x == c,
            Atom::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

impl Pattern {
    /// Compiles `src`, or says what is wrong with it.
    pub fn parse(src: &str) -> Result<Pattern, String> {
        let chars: Vec<char> = src.chars().collect();
        let mut items = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let atom = match chars[i] {
                '.' => {
                    i += 1;
                    Atom::Any
                }
                '\\' => {
                    let c = *chars.get(i + 1).ok_or("pattern ends with a lone '\\'")?;
                    i += 2;
                    Atom::Char(c)
                }
                '[' => {
                    let (atom, next) = parse_class(&chars, i + 1)?;
                    i = next;
                    atom
                }
                c @ ('(' | ')' | '|') => {
                    return Err(format!(
                        "'{c}' is not supported: a simple pattern has no groups or alternatives"
                    ))
                }
                c @ ('*' | '+' | '?' | '{') => {
                    return Err(format!("'{c}' at position {} has nothing to repeat", i + 1))
                }
                '^' | '$' if i == 0 || i == chars.len() - 1 => {
                    // Anchors are implied; accept them where a regex user would write them.
                    i += 1;
                    continue;
                }
                c => {
                    i += 1;
                    Atom::Char(c)
                }
            };
            let (min, max, next) = parse_quantifier(&chars, i)?;
            i = next;
            items.push(Item { atom, min, max });
        }
        Ok(Pattern { items })
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let mut failed = vec![false; (self.items.len() + 1) * (chars.len() + 1)];
        self.match_from(0, 0, &chars, &mut failed)
    }

    // Backtracking with a memo of (item, position) pairs already known to fail, so the
    // cost stays polynomial whatever the pattern.
    fn match_from(&self, item: usize, pos: usize, chars: &[char], failed: &mut [bool]) -> bool {
        let key = item * (chars.len() + 1) + pos;
        if failed[key] {
            return false;
        }
        let Some(it) = self.items.get(item) else {
            return pos == chars.len();
        };
        let mut run = 0;
        while run < it.max && pos + run < chars.len() && it.atom.matches(chars[pos + run]) {
            run += 1;
        }
        if run >= it.min {
            for n in (it.min..=run).rev() {
                if self.match_from(item + 1, pos + n, chars, failed) {
                    return true;
                }
            }
        }
        failed[key] = true;
        false
    }
}

fn parse_class(chars: &[char], mut i: usize) -> Result<(Atom, usize), String> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = *chars.get(i).ok_or("'[' is never closed with ']'")?;
        if c == ']' && !first {
            return Ok((Atom::Class { negated, ranges }, i + 1));
        }
        first = false;
        if c == '\\' {
            i += 1;
            c = *chars.get(i).ok_or("pattern ends with a lone '\\'")?;
        }
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            let mut end = chars[i + 2];
            let mut skip = 3;
            if end == '\\' {
                end = *chars.get(i + 3).ok_or("pattern ends with a lone '\\'")?;
                skip = 4;
            }
            if end < c {
                return Err(format!("range '{c}-{end}' is backwards"));
            }
            ranges.push((c, end));
            i += skip;
        } else {
            ranges.push((c, c));
            i += 1;
        }
    }
}

fn parse_quantifier(chars: &[char], i: usize) -> Result<(usize, usize, usize), String> {
    match chars.get(i) {
        Some('?') => Ok((0, 1, i + 1)),
        Some('*') => Ok((0, usize::MAX, i + 1)),
        Some('+') => Ok((1, usize::MAX, i + 1)),
        Some('{') => {
            let close = chars[i..]
                .iter()
                .position(|&c| c == '}')
                .ok_or("'{' is never closed with '}'")?
                + i;
            let body: String = chars[i + 1..close].iter().collect();
            let number = |s: &str| {
                s.trim().parse::<usize>().map_err(|_| {
                    format!("'{{{body}}}' is not a repetition like {{2}}, {{2,}} or {{2,5}}")
                })
            };
            let (min, max) = match body.split_once(',') {
                None => {
                    let n = number(&body)?;
                    (n, n)
                }
                Some((lo, "")) => (number(lo)?, usize::MAX),
                Some((lo, hi)) => (number(lo)?, number(hi)?),
            };
            if max < min {
                return Err(format!(
                    "'{{{body}}}' repeats at most fewer times than at least"
                ));
            }
            Ok((min, max, close + 1))
        }
        _ => Ok((1, 1, i)),
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn m(p: &str, s: &str) -> bool {
        Pattern::parse(p).unwrap().matches(s)
    }

    #[test]
    fn classes_and_quantifiers_match_the_whole_text() {
        assert!(m("[A-Za-z0-9 _-]+", "Nightly builds_2"));
        assert!(!m("[A-Za-z0-9 _-]+", "Nightly <b>"));
        assert!(!m("[a-z]+", ""));
        assert!(m("[a-z]*", ""));
        assert!(m("ab?c", "ac") && m("ab?c", "abc") && !m("ab?c", "abbc"));
        assert!(m("[0-9]{3}", "123") && !m("[0-9]{3}", "1234"));
        assert!(m("[0-9]{2,}", "12345") && !m("[0-9]{2,}", "1"));
        assert!(m("x{1,2}y", "xxy") && !m("x{1,2}y", "xxxy"));
        assert!(m("[^<>]+", "fine") && !m("[^<>]+", "a<b"));
        assert!(m("a.c", "abc") && m("\\.", "."));
        assert!(m("^[a-z]+$", "abc"));
        assert!(m("[À-ÿ]+", "äöü"));
        assert!(m("[a\\-z]+", "a-z") && !m("[a\\-z]+", "b"));
    }

    #[test]
    fn backtracking_stays_fast_on_hostile_input() {
        let p = Pattern::parse("a*a*a*a*a*a*a*b").unwrap();
        assert!(!p.matches(&"a".repeat(200)));
    }

    #[test]
    fn malformed_patterns_say_what_is_wrong() {
        assert!(Pattern::parse("[a-z").unwrap_err().contains("never closed"));
        assert!(Pattern::parse("+a")
            .unwrap_err()
            .contains("nothing to repeat"));
        assert!(Pattern::parse("(a|b)").unwrap_err().contains("no groups"));
        assert!(Pattern::parse("[z-a]").unwrap_err().contains("backwards"));
        assert!(Pattern::parse("a{x}").unwrap_err().contains("repetition"));
        assert!(Pattern::parse("a{3,1}").unwrap_err().contains("fewer"));
        assert!(Pattern::parse("a\\").unwrap_err().contains("lone"));
    }
}
