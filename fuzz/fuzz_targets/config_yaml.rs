//! The configuration loader on arbitrary text: `Config::from_yaml_str`, and the size and
//! duration grammars (`parse_size`, `parse_duration`) on the same text.
//!
//! Input: any bytes, taken as UTF-8 (invalid sequences replaced). A configuration that loads
//! must validate again, and the stores it defines must survive the JSON form peers exchange;
//! a size or duration that parses must come back from its formatted form unchanged.

#![no_main]

use hypercache::config::{
    Config, StoreConfig, format_duration, format_size, parse_duration, parse_size,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = Config::from_yaml_str(&text, "fuzz.yaml") {
        if let Err(e) = config.validate() {
            panic!("a loaded configuration does not validate: {e}");
        }
        let _ = config.summary();
        for store in &config.stores {
            let json = store.to_json();
            let back = StoreConfig::from_json(&json);
            // The file's grammar is not the JSON schema's (it may allow what JSON refuses), so
            // only a store that JSON takes must come back equal.
            if let Ok(back) = back {
                assert_eq!(
                    &back, store,
                    "a store changes through its JSON form: {json}"
                );
            }
        }
    }
    for word in std::iter::once(&*text).chain(text.split([':', '\n'])) {
        if let Ok(n) = parse_size(word) {
            let f = format_size(n);
            assert_eq!(
                parse_size(&f).ok(),
                Some(n),
                "size {word:?} -> {n} -> {f:?}"
            );
        }
        if let Ok(d) = parse_duration(word) {
            let f = format_duration(d);
            assert_eq!(
                parse_duration(&f).ok(),
                Some(d),
                "duration {word:?} -> {d:?} -> {f:?}"
            );
        }
    }
});
