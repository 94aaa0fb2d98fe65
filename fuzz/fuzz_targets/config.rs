//! The configuration loader: any TOML text is either a valid configuration or a clear error,
//! never a panic; and whatever loads passes its own validation.
#![no_main]

use c360::app::config::Settings;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(settings) = Settings::from_toml(text) {
        settings
            .validate()
            .expect("a loaded configuration is valid");
        let _ = settings.auth.authenticator();
    }
});
