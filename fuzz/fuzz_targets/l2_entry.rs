//! The pre-encoded profile decoder: what L2 holds, read back (after its seal is opened, so
//! the bytes are c360's own; still, a decoder must never panic). Whatever it accepts can be
//! served for every read mask, read back into answers, and written back and read again to the
//! same entry.
#![no_main]

use bytes::Bytes;
use c360::{
    core::entry::{EncodedProfile, ServedFrom},
    core::vocab::{FieldSet, Section, SectionSet},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = EncodedProfile::from_l2(Bytes::copy_from_slice(data)) else {
        return;
    };
    let profile = &entry.profile;
    for section in Section::ALL {
        let one = SectionSet::of(&[section]);
        let _ = profile.wire(
            one,
            FieldSet::NONE,
            ServedFrom::L2,
            std::time::Duration::from_millis(5),
        );
    }
    let _ = profile.wire(
        SectionSet::ALL,
        FieldSet::ALL,
        ServedFrom::L2,
        std::time::Duration::ZERO,
    );
    let _ = profile.all_stale();
    // Reading the answers back (when the catalog changes) decodes the sections themselves.
    let _ = profile.answers(entry.unshown);
    let again = profile.to_l2(entry.loaded_at, entry.catalog, entry.unshown);
    let back = EncodedProfile::from_l2(again).expect("an entry written is read back");
    assert_eq!(&back.profile, profile);
    assert_eq!(back.loaded_at, entry.loaded_at);
    assert_eq!(back.catalog, entry.catalog);
    assert_eq!(back.unshown, entry.unshown);
});
