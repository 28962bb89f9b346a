//! The one page shell of every page people read, the controllers' console and the
//! establishments' space alike: the French state's design system (DSFR, from its npm
//! package, served under [`DSFR_PATH`] from `http.dsfr_dir`), its header with the
//! service's name, the navigation of the person's role, skip links and footer.
//!
//! The DSFR is used as published (its CSS, icons, fonts and script), never copied or
//! rewritten: agents and establishments recognise it, and it carries the accessibility
//! work (contrast, focus, landmarks) the pages would otherwise have to redo.

use caregate_schemas::{Principal, Role};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::auth::Action;

/// Where the DSFR's `dist/` is served.
pub const DSFR_PATH: &str = "/dsfr";

/// The service's name, in the header and every title.
pub const SERVICE: &str = "caregate — CaRE";

/// The signed-in person a page is for, and the CSRF token its forms post back.
pub struct Viewer<'a> {
    pub principal: &'a Principal,
    pub csrf: &'a str,
}

/// A page: its title, the signed-in person (none on the log-in and error pages), the
/// path of the navigation entry it belongs to, extra `<head>` content, and its content
/// (the `main` element's).
pub struct Page<'a> {
    pub title: &'a str,
    pub viewer: Option<Viewer<'a>>,
    pub current: Option<&'a str>,
    pub head: Markup,
    pub content: Markup,
}

/// The navigation of a role: the pages it may open.
pub fn navigation(role: Role) -> Vec<(&'static str, &'static str)> {
    let mut nav = Vec::new();
    if Action::Upload.roles().contains(&role) {
        nav.push(("/espace", "Mes dossiers"));
    }
    if Action::Review.roles().contains(&role) {
        nav.push(("/console", "File de revue"));
        nav.push(("/console/tableau-de-bord", "Tableau de bord"));
    }
    if Action::Search.roles().contains(&role) {
        nav.push(("/console/search", "Recherche"));
    }
    nav
}

/// Where a person lands after signing in: the first page of their navigation.
pub fn home(role: Role) -> &'static str {
    navigation(role).first().map_or("/console", |(href, _)| href)
}

/// A role as people read it.
pub fn role_fr(role: Role) -> &'static str {
    match role {
        Role::Submitter => "déposant",
        Role::Controller => "contrôleur",
        Role::Archivist => "archiviste",
        Role::Admin => "administrateur",
    }
}

/// Shown only when the DSFR's stylesheet did not load (`fr-hidden` is the DSFR's own
/// `display:none`): the pages still work, and the person (and the operator they call)
/// sees why they look bare instead of guessing.
fn without_dsfr_notice() -> Markup {
    html! {
        p.fr-hidden #sans-dsfr role="status" style="border:2px solid #b00020;padding:.5rem;margin:0" {
            "La mise en forme du site (système de design de l'État) n'a pas pu être chargée : les pages restent utilisables. "
            "Administrateur : voir http.dsfr_dir dans la configuration."
        }
    }
}

pub fn render(page: Page<'_>) -> Markup {
    let home = page.viewer.as_ref().map_or("/console/login", |v| home(v.principal.role));
    let nav = page.viewer.as_ref().map(|v| navigation(v.principal.role)).unwrap_or_default();
    html! {
        (DOCTYPE)
        html lang="fr" data-fr-scheme="light" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="stylesheet" href={ (DSFR_PATH) "/dsfr.min.css" };
                link rel="stylesheet" href={ (DSFR_PATH) "/utility/icons/icons.min.css" };
                (page.head)
                title { (page.title) " — " (SERVICE) }
            }
            body {
                (without_dsfr_notice())
                div.fr-skiplinks {
                    nav.fr-container aria-label="Accès rapide" {
                        ul.fr-skiplinks__list {
                            li { a.fr-link href="#contenu" { "Contenu" } }
                            @if !nav.is_empty() { li { a.fr-link href="#navigation" { "Menu" } } }
                            li { a.fr-link href="#pied-de-page" { "Pied de page" } }
                        }
                    }
                }
                header.fr-header {
                    div.fr-header__body { div.fr-container { div.fr-header__body-row {
                        div."fr-header__brand"."fr-enlarge-link" {
                            div.fr-header__brand-top {
                                div.fr-header__logo { p.fr-logo { "République" br; "Française" } }
                                @if !nav.is_empty() {
                                    div.fr-header__navbar {
                                        button.fr-btn--menu.fr-btn type="button" data-fr-opened="false" aria-controls="menu-principal" aria-haspopup="menu" id="bouton-menu" title="Menu" { "Menu" }
                                    }
                                }
                            }
                            div.fr-header__service {
                                a href=(home) title={ "Accueil — " (SERVICE) } { p.fr-header__service-title { (SERVICE) } }
                                p.fr-header__service-tagline { "Preuves du programme CaRE" }
                            }
                        }
                        @if let Some(v) = &page.viewer {
                            div.fr-header__tools { div.fr-header__tools-links {
                                ul.fr-btns-group {
                                    li { span."fr-btn"."fr-icon-account-circle-line".who #qui { (v.principal.display_name) " — " (role_fr(v.principal.role)) } }
                                    li {
                                        form method="post" action="/console/logout" {
                                            input type="hidden" name=(crate::guard::CSRF_FIELD) value=(v.csrf);
                                            button."fr-btn"."fr-icon-logout-box-r-line" type="submit" #deconnexion { "Se déconnecter" }
                                        }
                                    }
                                }
                            } }
                        }
                    } } }
                    @if !nav.is_empty() {
                        div."fr-header__menu"."fr-modal" #menu-principal aria-labelledby="bouton-menu" {
                            div.fr-container {
                                button.fr-btn--close.fr-btn type="button" aria-controls="menu-principal" title="Fermer" { "Fermer" }
                                div.fr-header__menu-links {}
                                nav.fr-nav #navigation aria-label="Menu principal" {
                                    ul.fr-nav__list {
                                        @for (href, label) in &nav {
                                            li.fr-nav__item {
                                                @if page.current == Some(*href) {
                                                    a.fr-nav__link href=(href) aria-current="page" { (label) }
                                                } @else {
                                                    a.fr-nav__link href=(href) { (label) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                main #contenu tabindex="-1" { div."fr-container"."fr-py-4w" { (page.content) } }
                footer.fr-footer #pied-de-page {
                    div.fr-container {
                        div.fr-footer__body {
                            div."fr-footer__brand"."fr-enlarge-link" {
                                a href=(home) title={ "Retour à l'accueil — " (SERVICE) } { p.fr-logo { "République" br; "Française" } }
                            }
                            div.fr-footer__content {
                                p.fr-footer__content-desc {
                                    "caregate reçoit, vérifie et archive les preuves que les établissements de santé fournissent au programme CaRE "
                                    "(Cyber Accélération et Résilience des Établissements)."
                                }
                            }
                        }
                        div.fr-footer__bottom {
                            ul.fr-footer__bottom-list {
                                li.fr-footer__bottom-item { span.fr-footer__bottom-link { "Accessibilité : partiellement conforme" } }
                            }
                            div.fr-footer__bottom-copy {
                                p { "Système de design de l'État (DSFR), sous licence Etalab 2.0." }
                            }
                        }
                    }
                }
                script type="module" src={ (DSFR_PATH) "/dsfr.module.min.js" } {}
                script nomodule src={ (DSFR_PATH) "/dsfr.nomodule.min.js" } {}
            }
        }
    }
}

/// A style block of a page's own (what the DSFR has no component for).
pub fn style(css: &'static str) -> Markup {
    html! { style { (PreEscaped(css)) } }
}

/// The DSFR's files, as published in its npm package's `dist/`: immutable for a given
/// version, so browsers may keep them a day (the pages themselves are `no-store`).
pub fn dsfr_files(dir: &std::path::Path) -> tower_http::set_header::SetResponseHeader<tower_http::services::ServeDir, axum::http::HeaderValue> {
    use tower::Layer;
    tower_http::set_header::SetResponseHeaderLayer::overriding(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("public, max-age=86400"))
        .layer(tower_http::services::ServeDir::new(dir))
}
