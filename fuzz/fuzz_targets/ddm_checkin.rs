#![no_main]
//! DDM endpoint routing: `<endpoint>\0<body>` through `DeclarationSet::handle`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| mdm_ddm::fuzzing::checkin(data));
