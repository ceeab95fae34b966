//! US ZIP codes and their places, from the bundled table (`assets/zip/`: GeoNames' US postal
//! codes, CC BY 4.0; source, licence and how it is rebuilt in its README).
//!
//! The table is embedded in the binary (243 KB gzip) and decompressed once, on first use, into
//! one string with an index of line starts (about 0.9 MB). A ZIP's place is a binary search;
//! the ZIPs of a city are a scan (41,000 short lines, well under a millisecond a turn).
//! The shop's `[dialog] zip_cities` override it: the engine asks those first.

use std::io::Read;
use std::sync::OnceLock;

static PACKED: &[u8] = include_bytes!("../../../assets/zip/us-zip-cities.tsv.gz");

/// The place a ZIP belongs to, as the table writes it ("Springfield", "IL").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZipPlace {
    pub zip: &'static str,
    pub city: &'static str,
    pub state: &'static str,
}

struct Table {
    text: String,
    /// Byte offset of each line, in ZIP order (the file is sorted by ZIP).
    lines: Vec<u32>,
}

impl Table {
    fn load() -> Table {
        let mut text = String::new();
        // Embedded and checked by the tests: a broken table is an empty one (no ZIP known:
        // the box asks the caller), never a panic on a call.
        if flate2::read::GzDecoder::new(PACKED)
            .read_to_string(&mut text)
            .is_err()
        {
            text.clear();
        }
        let mut lines = Vec::with_capacity(41_000);
        let mut at = 0usize;
        for line in text.split_inclusive('\n') {
            if line.trim_end().split('\t').count() == 3 {
                lines.push(at as u32);
            }
            at += line.len();
        }
        Table { text, lines }
    }

    fn place(&'static self, i: usize) -> Option<ZipPlace> {
        let start = *self.lines.get(i)? as usize;
        let line = self.text.get(start..)?.lines().next()?;
        let mut f = line.split('\t');
        Some(ZipPlace {
            zip: f.next()?,
            city: f.next()?,
            state: f.next()?,
        })
    }

    fn places(&'static self) -> impl Iterator<Item = ZipPlace> {
        (0..self.lines.len()).filter_map(|i| self.place(i))
    }
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::load)
}

/// The city and state of a five-digit ZIP, when the table has it.
pub fn place_of(zip: &str) -> Option<ZipPlace> {
    if zip.len() != 5 || !zip.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = table();
    let mut lo = 0usize;
    let mut hi = t.lines.len();
    while lo < hi {
        let mid = (lo + hi) / 2;
        let place = t.place(mid)?;
        match place.zip.cmp(zip) {
            std::cmp::Ordering::Equal => return Some(place),
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    None
}

/// A place name as the recogniser would write it: lowercase letters and single spaces
/// ("Mc Grath" and "mcgrath" both "mcgrath", "St. Louis" → "saint louis").
fn spoken_form(name: &str) -> String {
    let lower = name.to_lowercase().replace(['.', '\'', '-'], " ");
    let words: Vec<&str> = lower
        .split_whitespace()
        .map(|w| match w {
            "st" => "saint",
            "ft" => "fort",
            "mt" => "mount",
            w => w,
        })
        .collect();
    // "mc grath" / "mcgrath", "la salle" / "lasalle": compare without spaces.
    words.concat()
}

/// Every place of the city named `city` (recogniser words or the table's spelling), in
/// `state` when one is given. Empty when the table has no such city.
pub fn places_of_city(city: &str, state: Option<&str>) -> Vec<ZipPlace> {
    let want = spoken_form(city);
    if want.is_empty() {
        return Vec::new();
    }
    table()
        .places()
        .filter(|p| state.is_none_or(|s| p.state.eq_ignore_ascii_case(s)))
        .filter(|p| spoken_form(p.city) == want)
        .collect()
}

/// The one ZIP of a city ("chatham" in IL → 62629); `None` when the city has several ZIPs
/// (the caller is asked) or the table does not know it.
pub fn only_zip_of(city: &str, state: Option<&str>) -> Option<ZipPlace> {
    match places_of_city(city, state).as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_table_loads_whole() {
        let t = table();
        assert!(t.lines.len() > 40_000, "{} ZIPs", t.lines.len());
        // Sorted by ZIP, one line a ZIP: the binary search depends on it.
        let zips: Vec<&str> = t.places().map(|p| p.zip).collect();
        assert_eq!(zips.len(), t.lines.len());
        assert!(zips.windows(2).all(|w| w[0] < w[1]));
        assert!(t.places().all(|p| p.state.len() == 2 && !p.city.is_empty()));
    }

    #[test]
    fn a_zip_gives_its_city_and_state() {
        let p = place_of("62704").expect("62704");
        assert_eq!((p.city, p.state), ("Springfield", "IL"));
        let p = place_of("62629").expect("62629");
        assert_eq!((p.city, p.state), ("Chatham", "IL"));
        let p = place_of("10001").expect("10001");
        assert_eq!((p.city, p.state), ("New York", "NY"));
        let p = place_of("99553").expect("first in the file's order is not first by ZIP");
        assert_eq!(p.state, "AK");
        assert_eq!(place_of("00000"), None);
        assert_eq!(place_of("6270"), None);
        assert_eq!(place_of("6270x"), None);
        // The ends of the table.
        let first = table().place(0).expect("first");
        assert_eq!(place_of(first.zip), Some(first));
        let last = table().place(table().lines.len() - 1).expect("last");
        assert_eq!(place_of(last.zip), Some(last));
    }

    #[test]
    fn a_city_with_one_zip_gives_it_and_one_with_many_does_not() {
        assert_eq!(
            only_zip_of("chatham", Some("IL")).map(|p| p.zip),
            Some("62629")
        );
        assert_eq!(
            only_zip_of("Chatham", Some("il")).map(|p| p.zip),
            Some("62629")
        );
        // Springfield IL has many ZIPs: the caller is asked.
        assert!(places_of_city("springfield", Some("IL")).len() > 5);
        assert_eq!(only_zip_of("springfield", Some("IL")), None);
        // Chatham exists in other states too: without a state it is not unique.
        assert_eq!(only_zip_of("chatham", None), None);
        assert_eq!(only_zip_of("nowhere ville", Some("IL")), None);
        assert_eq!(only_zip_of("", Some("IL")), None);
    }

    #[test]
    fn recogniser_spellings_of_city_names_match() {
        assert_eq!(spoken_form("Mc Grath"), spoken_form("mcgrath"));
        assert_eq!(spoken_form("St. Louis"), spoken_form("saint louis"));
        assert_eq!(spoken_form("Fort Wayne"), spoken_form("ft wayne"));
        assert!(!places_of_city("saint louis", Some("MO")).is_empty());
    }
}
