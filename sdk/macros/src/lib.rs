//! Procedural macros for `coffer-sdk`; use them through its re-exports
//! (`coffer_sdk::Fields`, `coffer_sdk::FieldEnum`, `#[coffer_sdk::engine]`).
//! Misuse is reported as a spanned compile error, never a panic.
#![deny(missing_docs)]
#![deny(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Expr, Fields as SynFields, ItemFn, LitStr, Type};

/// Derives `coffer_sdk::Fields` for a struct with named fields (or a unit
/// struct). Field attributes: `#[field(required)]`, `#[field(default =
/// <json literal>)]`, `#[field(rename = "wire_name")]`; doc comments become
/// descriptions. `#[field(flatten)]` on fields whose types are themselves
/// `Fields` reads that struct's fields from the same request, as if they
/// were declared here (a batch item and the single request then share one
/// declaration).
#[proc_macro_derive(Fields, attributes(field))]
pub fn derive_fields(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    fields_impl(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives `coffer_sdk::FieldEnum` (with `FieldValue`, `Display`, `FromStr`
/// and serde's `Serialize`/`Deserialize`, all as the wire string) for an
/// enum of unit variants. A variant's wire string is its name in kebab case
/// (`Aes256Gcm96` is `aes256-gcm96`) unless `#[field(rename = "...")]`.
/// On the enum, `#[field(rename_all = "snake_case")]` picks another case
/// for every variant without a `rename` (`kebab-case`, `snake_case`,
/// `lowercase`, `UPPERCASE`, `SCREAMING_SNAKE_CASE`,
/// `SCREAMING-KEBAB-CASE`), and `#[field(case_insensitive)]` accepts any
/// ASCII case on input, as Vault does for some fields (the wire string is
/// still what is shown and echoed).
#[proc_macro_derive(FieldEnum, attributes(field))]
pub fn derive_field_enum(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    enum_impl(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Exports an engine: put it on the function that builds the path table,
/// `fn engine() -> coffer_sdk::Engine`. It expands to the component's
/// exports of contract 0.2 (the `handler` interface: `handle`, `exists`,
/// `periodic`, `describe`); `#[coffer_sdk::engine(contract = "0.1")]`
/// exports contract 0.1's instead (`handle`, `exists`, `periodic`; needs
/// coffer-sdk's `contract-0-1` feature). The table (with its per-instance
/// state, `Ctx::state`) is built once per instance.
#[proc_macro_attribute]
pub fn engine(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = TokenStream2::from(attr);
    let item = syn::parse_macro_input!(item as ItemFn);
    engine_impl(attr, &item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

#[derive(Default)]
struct FieldAttrs {
    flatten: bool,
    required: bool,
    default: Option<Expr>,
    rename: Option<String>,
}

fn field_attrs(attrs: &[Attribute], allow: &[&str]) -> syn::Result<FieldAttrs> {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("field")) {
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            if !allow.contains(&key.as_str()) {
                return Err(meta.error(format!(
                    "unknown field attribute; expected one of: {}",
                    allow.join(", ")
                )));
            }
            match key.as_str() {
                "required" => out.required = true,
                "flatten" => out.flatten = true,
                "default" => out.default = Some(meta.value()?.parse()?),
                "rename" => out.rename = Some(meta.value()?.parse::<LitStr>()?.value()),
                _ => return Err(meta.error("unknown field attribute")),
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn doc_text(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if let Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
            {
                lines.push(s.value().trim().to_owned());
            }
        }
    }
    // Lines join into paragraphs; an empty line separates paragraphs.
    let mut text = String::new();
    for line in lines {
        if line.is_empty() {
            if !text.ends_with("\n\n") && !text.is_empty() {
                text.push_str("\n\n");
            }
        } else {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push(' ');
            }
            text.push_str(&line);
        }
    }
    text.trim().to_owned()
}

/// `T` of `Option<T>`.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if p.qself.is_some() || last.ident != "Option" {
        return None;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) => match args.args.first() {
            Some(syn::GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

fn is_option(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none()
        && p.path.segments.last().is_some_and(|s| s.ident == "Option"))
}

fn fields_impl(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let data = match &input.data {
        Data::Struct(s) => s,
        _ => {
            return Err(syn::Error::new(
                input.span(),
                "#[derive(Fields)] needs a struct with named fields",
            ))
        }
    };
    let named: Vec<&syn::Field> = match &data.fields {
        SynFields::Named(n) => n.named.iter().collect(),
        SynFields::Unit => Vec::new(),
        SynFields::Unnamed(u) => {
            return Err(syn::Error::new(
                u.span(),
                "#[derive(Fields)] needs named fields",
            ));
        }
    };

    let mut schema = Vec::new();
    let mut finish = Vec::new();
    let mut checks = Vec::new();
    let mut wires = Vec::new();
    let mut slots = Vec::new();
    let mut types = Vec::new();
    let mut flats: Vec<(syn::Ident, Type)> = Vec::new();
    for (index, field) in named.into_iter().enumerate() {
        let Some(ident) = &field.ident else {
            return Err(syn::Error::new(field.span(), "field has no name"));
        };
        let ty = &field.ty;
        let attrs = field_attrs(&field.attrs, &["required", "default", "rename", "flatten"])?;
        if attrs.flatten {
            if attrs.required || attrs.default.is_some() || attrs.rename.is_some() {
                return Err(syn::Error::new(
                    ident.span(),
                    "a flattened field takes no other field attribute",
                ));
            }
            flats.push((ident.clone(), ty.clone()));
            continue;
        }
        let wire = attrs.rename.clone().unwrap_or_else(|| {
            let s = ident.to_string();
            s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
        });
        let description = doc_text(&field.attrs);
        if attrs.required && attrs.default.is_some() {
            return Err(syn::Error::new(
                ident.span(),
                "a field cannot be both required and defaulted",
            ));
        }
        if attrs.required && is_option(ty) {
            return Err(syn::Error::new(
                ty.span(),
                "a required field cannot be an Option",
            ));
        }
        if attrs.default.is_some() && is_option(ty) {
            return Err(syn::Error::new(
                ty.span(),
                "a defaulted field cannot be an Option",
            ));
        }
        if wires.contains(&wire) {
            return Err(syn::Error::new(
                ident.span(),
                format!("two fields are named {wire:?}"),
            ));
        }
        let required = attrs.required;
        let default_tokens = match &attrs.default {
            Some(expr) => quote!(::core::option::Option::Some(
                ::coffer_sdk::__private::serde_json::json!(#expr)
            )),
            None => quote!(::core::option::Option::None),
        };
        schema.push(quote! {
            ::coffer_sdk::FieldSchema {
                name: #wire,
                kind: <#ty as ::coffer_sdk::FieldValue>::KIND,
                description: #description,
                default: #default_tokens,
                required: #required,
                allowed_values: <#ty as ::coffer_sdk::FieldValue>::ALLOWED,
            }
        });
        let slot = quote::format_ident!("__slot_{}", index);
        let value = if let Some(expr) = &attrs.default {
            checks.push(quote! {
                if let ::core::option::Option::Some(p) = ::coffer_sdk::__private::check_default::<#ty>(
                    #wire, &::coffer_sdk::__private::serde_json::json!(#expr),
                ) {
                    problems.push(p);
                }
            });
            quote!(::coffer_sdk::__private::with_default::<#ty>(
                #wire, #slot, || ::coffer_sdk::__private::serde_json::json!(#expr))?)
        } else if required {
            quote!(::coffer_sdk::__private::required::<#ty>(#wire, #slot)?)
        } else {
            quote!(::coffer_sdk::__private::optional::<#ty>(#wire, #slot)?)
        };
        finish.push(quote!(#ident: #value));
        wires.push(wire);
        slots.push(slot);
        types.push(ty.clone());
    }

    let own = wires.len();
    let indexes: Vec<usize> = (0..slots.len()).collect();
    let private = quote!(::coffer_sdk::__private);
    // Flattened structs' fields follow this one's in the names (so that
    // their keys are known), each gathered into a JSON object of its own
    // and read as that struct once the body is done (captures and query
    // filled in). `OWNERS[i]` says which flattened struct name `i` feeds.
    let (schema_fn, names_def, flat_slot, flat_arm, flat_fill, flat_problems) = if flats.is_empty()
    {
        (
            quote!(::std::vec![#(#schema),*]),
            quote!(const NAMES: &[&str] = &[#(#wires),*];),
            quote!(),
            quote!(),
            quote!(),
            quote!(),
        )
    } else {
        let count = flats.len();
        let mut inner_types = Vec::new();
        let mut schema_extends = Vec::new();
        for (k, (ident, outer)) in flats.iter().enumerate() {
            // `Option<T>`: none when the request gives none of T's fields
            // (a batch request, whose items are T), and then none of them
            // is required.
            let (ty, value, schema_extend) = match option_inner(outer) {
                Some(inner) => (
                    inner.clone(),
                    quote! {
                        if __flats[#k].is_empty() {
                            ::core::option::Option::None
                        } else {
                            ::core::option::Option::Some(
                                <#inner as ::coffer_sdk::Fields>::from_fields(&__flats[#k])?,
                            )
                        }
                    },
                    quote! {
                        schema.extend(<#inner as ::coffer_sdk::Fields>::schema().into_iter().map(|mut f| {
                            f.required = false;
                            f
                        }));
                    },
                ),
                None => (
                    outer.clone(),
                    quote!(<#outer as ::coffer_sdk::Fields>::from_fields(&__flats[#k])?),
                    quote!(schema.extend(<#outer as ::coffer_sdk::Fields>::schema());),
                ),
            };
            finish.push(quote!(#ident: #value));
            inner_types.push(ty);
            schema_extends.push(schema_extend);
        }
        let ks: Vec<usize> = (0..count).collect();
        (
            quote!({
                let mut schema = ::std::vec![#(#schema),*];
                #(#schema_extends)*
                schema
            }),
            quote! {
                static ALL_NAMES: ::std::sync::OnceLock<(
                    ::std::vec::Vec<&'static str>,
                    ::std::vec::Vec<usize>,
                )> = ::std::sync::OnceLock::new();
                let (NAMES, OWNERS): (&'static [&'static str], &'static [usize]) = {
                    let all = ALL_NAMES.get_or_init(|| {
                        let mut names: ::std::vec::Vec<&'static str> = ::std::vec![#(#wires),*];
                        let mut owners: ::std::vec::Vec<usize> = ::std::vec![usize::MAX; #own];
                        #(
                            for f in <#inner_types as ::coffer_sdk::Fields>::schema() {
                                names.push(f.name);
                                owners.push(#ks);
                            }
                        )*
                        (names, owners)
                    });
                    (all.0.as_slice(), all.1.as_slice())
                };
            },
            quote! {
                let mut __flats: [#private::serde_json::Map<::std::string::String, #private::serde_json::Value>; #count] =
                    ::core::array::from_fn(|_| #private::serde_json::Map::new());
            },
            quote! {
                #private::Key::Field(i) if i >= #own => match (NAMES.get(i), OWNERS.get(i)) {
                    (::core::option::Option::Some(name), ::core::option::Option::Some(k)) if *k < #count => {
                        let value: #private::serde_json::Value = map.next_value()?;
                        __flats[*k].insert((*name).to_owned(), value);
                    }
                    _ => rules.skip(&mut map, #private::Key::Field(i))?,
                },
            },
            quote! {
                #(
                    for field in <#inner_types as ::coffer_sdk::Fields>::schema() {
                        let present = __flats[#ks].contains_key(field.name);
                        if let ::core::option::Option::Some(value) = rules.fill(field.name, present) {
                            __flats[#ks].insert(field.name.to_owned(), value);
                        }
                    }
                )*
            },
            quote! {
                #(
                    problems.extend(<#inner_types as ::coffer_sdk::Fields>::declaration_problems());
                )*
                // A name declared twice would reach only its first owner.
                let schema = <Self as ::coffer_sdk::Fields>::schema();
                for (i, f) in schema.iter().enumerate() {
                    if schema[..i].iter().any(|g| g.name == f.name) {
                        problems.push(::std::format!(
                            "field {:?} is declared twice (here and in a flattened struct)",
                            f.name
                        ));
                    }
                }
            },
        )
    };
    let construct = match &data.fields {
        SynFields::Unit => quote!(Self),
        _ => quote!(Self { #(#finish),* }),
    };
    Ok(quote! {
        impl #impl_generics ::coffer_sdk::Fields for #name #ty_generics #where_clause {
            fn schema() -> ::std::vec::Vec<::coffer_sdk::FieldSchema> {
                #schema_fn
            }

            #[allow(unused_mut, unused_variables, non_snake_case, clippy::redundant_closure_call)]
            fn from_map<'de, __A: #private::serde::de::MapAccess<'de>>(
                mut map: __A,
                rules: &mut #private::Rules<'_>,
            ) -> ::core::result::Result<
                ::core::result::Result<Self, ::coffer_sdk::Error>,
                __A::Error,
            > {
                #names_def
                #(
                    let mut #slots: ::core::option::Option<
                        ::core::result::Result<#types, ::std::string::String>,
                    > = ::core::option::Option::None;
                )*
                #flat_slot
                while let ::core::option::Option::Some(key) = map.next_key_seed(rules.key_seed(NAMES))? {
                    match key {
                        #(
                            #private::Key::Field(#indexes) => {
                                #slots = map.next_value_seed(#private::FieldSeed::<#types>::new())?;
                            }
                        )*
                        #flat_arm
                        other => rules.skip(&mut map, other)?,
                    }
                }
                #(
                    if let ::core::option::Option::Some(value) = rules.fill(#wires, #slots.is_some()) {
                        #slots = ::core::option::Option::Some(
                            <#types as ::coffer_sdk::FieldValue>::from_owned(value),
                        );
                    }
                )*
                #flat_fill
                ::core::result::Result::Ok((|| -> ::core::result::Result<Self, ::coffer_sdk::Error> {
                    ::core::result::Result::Ok(#construct)
                })())
            }

            #[allow(unused_mut)]
            fn declaration_problems() -> ::std::vec::Vec<::std::string::String> {
                let mut problems = ::std::vec::Vec::new();
                #(#checks)*
                #flat_problems
                problems
            }
        }
    })
}

/// An enum's own `#[field(...)]` settings.
#[derive(Default)]
struct EnumAttrs {
    rename_all: Option<(String, proc_macro2::Span)>,
    case_insensitive: bool,
}

fn enum_attrs(attrs: &[Attribute]) -> syn::Result<EnumAttrs> {
    let mut out = EnumAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("field")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                let lit = meta.value()?.parse::<LitStr>()?;
                out.rename_all = Some((lit.value(), lit.span()));
            } else if meta.path.is_ident("case_insensitive") {
                out.case_insensitive = true;
            } else {
                return Err(meta.error(
                    "unknown field attribute; expected one of: rename_all, case_insensitive",
                ));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// A variant's name in one of `rename_all`'s cases.
fn in_case(ident: &str, case: &str) -> Option<String> {
    let kebab = kebab(ident);
    Some(match case {
        "kebab-case" => kebab,
        "snake_case" => kebab.replace('-', "_"),
        "lowercase" => kebab.replace('-', ""),
        "UPPERCASE" => kebab.replace('-', "").to_ascii_uppercase(),
        "SCREAMING_SNAKE_CASE" => kebab.replace('-', "_").to_ascii_uppercase(),
        "SCREAMING-KEBAB-CASE" => kebab.to_ascii_uppercase(),
        _ => return None,
    })
}

fn kebab(ident: &str) -> String {
    let mut out = String::new();
    let mut prev_lower_or_digit = false;
    for c in ident.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower_or_digit {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower_or_digit = false;
        } else if c == '_' {
            out.push('-');
            prev_lower_or_digit = false;
        } else {
            out.push(c);
            prev_lower_or_digit = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

fn enum_impl(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "#[derive(FieldEnum)] takes no generics",
        ));
    }
    let data = match &input.data {
        Data::Enum(e) => e,
        _ => {
            return Err(syn::Error::new(
                input.span(),
                "#[derive(FieldEnum)] needs an enum of unit variants",
            ))
        }
    };
    if data.variants.is_empty() {
        return Err(syn::Error::new(
            input.span(),
            "#[derive(FieldEnum)] needs at least one variant",
        ));
    }
    let settings = enum_attrs(&input.attrs)?;
    let mut idents = Vec::new();
    let mut wires: Vec<String> = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, SynFields::Unit) {
            return Err(syn::Error::new(
                variant.span(),
                "FieldEnum variants must be unit variants",
            ));
        }
        let attrs = field_attrs(&variant.attrs, &["rename"])?;
        let wire = match (attrs.rename, &settings.rename_all) {
            (Some(wire), _) => wire,
            (None, None) => kebab(&variant.ident.to_string()),
            (None, Some((case, span))) => {
                in_case(&variant.ident.to_string(), case).ok_or_else(|| {
                    syn::Error::new(
                        *span,
                        "unknown rename_all; expected one of: kebab-case, snake_case, \
                         lowercase, UPPERCASE, SCREAMING_SNAKE_CASE, SCREAMING-KEBAB-CASE",
                    )
                })?
            }
        };
        let clash = wires.iter().any(|w| {
            if settings.case_insensitive {
                w.eq_ignore_ascii_case(&wire)
            } else {
                *w == wire
            }
        });
        if clash {
            return Err(syn::Error::new(
                variant.span(),
                format!("two variants are named {wire:?}"),
            ));
        }
        idents.push(&variant.ident);
        wires.push(wire);
    }
    // With `case_insensitive`, the exact match first, then any case.
    let any_case = if settings.case_insensitive {
        quote! {
            #(
                if s.eq_ignore_ascii_case(#wires) {
                    return ::core::option::Option::Some(Self::#idents);
                }
            )*
        }
    } else {
        quote! {}
    };
    let sdk = quote!(::coffer_sdk);
    let serde = quote!(::coffer_sdk::__private::serde);
    Ok(quote! {
        impl #sdk::FieldEnum for #name {
            const VALUES: &'static [&'static str] = &[#(#wires),*];

            fn as_str(&self) -> &'static str {
                match self { #(Self::#idents => #wires),* }
            }

            fn from_name(s: &str) -> ::core::option::Option<Self> {
                match s {
                    #(#wires => return ::core::option::Option::Some(Self::#idents),)*
                    _ => {}
                }
                #any_case
                ::core::option::Option::None
            }
        }

        impl #sdk::FieldValue for #name {
            const KIND: #sdk::FieldType = #sdk::FieldType::Enum;
            const ALLOWED: &'static [&'static str] = <Self as #sdk::FieldEnum>::VALUES;

            fn from_value(
                value: &::coffer_sdk::__private::serde_json::Value,
            ) -> ::core::result::Result<Self, ::std::string::String> {
                #sdk::__private::enum_from_value::<Self>(value)
            }
        }

        impl ::core::fmt::Display for #name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(<Self as #sdk::FieldEnum>::as_str(self))
            }
        }

        impl ::core::str::FromStr for #name {
            type Err = ::std::string::String;

            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                <Self as #sdk::FieldEnum>::from_name(s).ok_or_else(|| {
                    #sdk::__private::unknown_variant(s, <Self as #sdk::FieldEnum>::VALUES)
                })
            }
        }

        impl #serde::Serialize for #name {
            fn serialize<S: #serde::Serializer>(&self, s: S) -> ::core::result::Result<S::Ok, S::Error> {
                s.serialize_str(<Self as #sdk::FieldEnum>::as_str(self))
            }
        }

        impl<'de> #serde::Deserialize<'de> for #name {
            fn deserialize<D: #serde::Deserializer<'de>>(d: D) -> ::core::result::Result<Self, D::Error> {
                let s = <::std::string::String as #serde::Deserialize>::deserialize(d)?;
                <Self as ::core::str::FromStr>::from_str(&s).map_err(<D::Error as #serde::de::Error>::custom)
            }
        }
    })
}

/// Which contract `#[coffer_sdk::engine(...)]` asks for.
enum Contract {
    V01,
    V02,
}

fn contract_arg(attr: TokenStream2) -> syn::Result<Contract> {
    if attr.is_empty() {
        return Ok(Contract::V02);
    }
    let mut contract = None;
    let parser = syn::meta::parser(|meta| {
        if !meta.path.is_ident("contract") {
            return Err(meta.error("expected `contract = \"0.1\"` or `contract = \"0.2\"`"));
        }
        let value: LitStr = meta.value()?.parse()?;
        contract = Some(match value.value().as_str() {
            "0.1" => Contract::V01,
            "0.2" => Contract::V02,
            _ => {
                return Err(syn::Error::new(
                    value.span(),
                    "unknown contract version: expected \"0.1\" or \"0.2\"",
                ))
            }
        });
        Ok(())
    });
    syn::parse::Parser::parse2(parser, attr)?;
    Ok(contract.unwrap_or(Contract::V02))
}

fn engine_impl(attr: TokenStream2, item: &ItemFn) -> syn::Result<TokenStream2> {
    let contract = contract_arg(attr)?;
    let sig = &item.sig;
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "the engine function takes no arguments",
        ));
    }
    if !sig.generics.params.is_empty() || sig.asyncness.is_some() {
        return Err(syn::Error::new(
            sig.span(),
            "the engine function must be a plain `fn() -> Engine`",
        ));
    }
    if matches!(sig.output, syn::ReturnType::Default) {
        return Err(syn::Error::new(
            sig.span(),
            "the engine function must return coffer_sdk::Engine",
        ));
    }
    let name = &sig.ident;
    let exports = match contract {
        Contract::V02 => quote! {
            use ::coffer_sdk::__private::bindings::v02::coffer::engine::http::{Request, Response};
            use ::coffer_sdk::__private::bindings::v02::coffer::engine::types::Error;
            use ::coffer_sdk::__private::bindings::v02::exports::coffer::engine::handler::{
                Description, Guest,
            };
            use ::coffer_sdk::__private::v02 as glue;

            impl Guest for Exports {
                fn handle(request: &Request) -> ::core::result::Result<Response, Error> {
                    glue::handle(&ENGINE, request)
                }

                fn exists(request: &Request) -> ::core::result::Result<::core::option::Option<bool>, Error> {
                    glue::exists(&ENGINE, request)
                }

                fn periodic(
                    mount_path: ::std::string::String,
                    mount_options: ::std::string::String,
                ) -> ::core::result::Result<(), Error> {
                    glue::periodic(&ENGINE, mount_path, mount_options)
                }

                fn describe() -> Description {
                    glue::describe(&ENGINE)
                }
            }

            ::coffer_sdk::__private::bindings::v02::__export_engine_v02!(Exports);
        },
        Contract::V01 => quote! {
            use ::coffer_sdk::__private::bindings::v01::coffer::engine::types::{Error, Request, Response};
            use ::coffer_sdk::__private::bindings::v01::Guest;
            use ::coffer_sdk::__private::v01 as glue;

            impl Guest for Exports {
                fn handle(request: Request) -> ::core::result::Result<Response, Error> {
                    glue::handle(&ENGINE, request)
                }

                fn exists(request: Request) -> ::core::result::Result<::core::option::Option<bool>, Error> {
                    glue::exists(&ENGINE, request)
                }

                fn periodic(
                    mount_path: ::std::string::String,
                    mount_options: ::std::string::String,
                ) -> ::core::result::Result<(), Error> {
                    glue::periodic(&ENGINE, mount_path, mount_options)
                }
            }

            ::coffer_sdk::__private::bindings::v01::__export_engine_v01!(Exports);
        },
    };
    Ok(quote! {
        #item

        // Only a component has exports: natively (the engine's own tests)
        // the table is used directly, and 0.2's export names (with `:`,
        // `/`, `#`) are not symbols a native library can define.
        #[cfg(target_arch = "wasm32")]
        #[doc(hidden)]
        #[allow(unsafe_code, missing_docs)]
        mod __coffer_engine_export {
            struct Exports;

            // One table (and its per-instance state) per instance: wasm
            // runs an instance on one thread.
            ::std::thread_local! {
                static ENGINE: ::coffer_sdk::Engine = super::#name();
            }

            #exports
        }
    })
}
