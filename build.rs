// Compiles the C long double / libc number helpers used by src/util/num.rs.
fn main() {
    println!("cargo:rerun-if-changed=src/util/longdouble.c");
    cc::Build::new()
        .file("src/util/longdouble.c")
        .warnings(true)
        .compile("hc_longdouble");
}
