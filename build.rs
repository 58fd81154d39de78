// rust-i18n reads locales/ inside a macro, which cargo does not watch: rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=locales");
    println!("cargo:rerun-if-changed=build.rs");
}
