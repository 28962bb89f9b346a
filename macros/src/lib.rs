//! caregate's procedural macros. One so far: [`macro@bounded`], which gives every method of
//! an index back end the time bound its contract promises, so a method added tomorrow
//! cannot forget it.
//!
//! Why a macro rather than a call in each method: the bound is part of every index
//! trait's contract ("a database that does not answer ends the call in `Unavailable`"),
//! and it was once written out in 36 method bodies; a wrapper type forwarding each
//! method was tried before and cost 150 lines that drifted. An attribute on the `impl`
//! keeps the bodies as they read, formatted by rustfmt, and states the bound once.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, Error, ImplItem, ItemImpl};

/// On an `impl` block (placed above `#[async_trait]`): each async method's body runs
/// inside `crate::sql::bounded`, the index's time bound. A method marked
/// `#[unbounded]` is left as written; its trait's contract must say why (the audit
/// chain's walk over the whole history is the one such method).
///
/// Every async method must return the crate's `Result<_, StorageError>`: the bound turns
/// a database that does not answer into `StorageError::Unavailable`.
#[proc_macro_attribute]
pub fn bounded(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return Error::new(proc_macro2::Span::call_site(), "#[bounded] takes no argument").to_compile_error().into();
    }
    let mut block = parse_macro_input!(item as ItemImpl);
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else { continue };
        let before = method.attrs.len();
        method.attrs.retain(|a| !a.path().is_ident("unbounded"));
        if method.attrs.len() != before {
            continue;
        }
        // A method that is not async cannot wait on the database: nothing to bound.
        if method.sig.asyncness.is_none() {
            continue;
        }
        let body = &method.block;
        method.block = syn::parse_quote!({ crate::sql::bounded(async move #body).await });
    }
    quote!(#block).into()
}
