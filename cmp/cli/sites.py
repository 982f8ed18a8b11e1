"""``flask cmp site create|update|list``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from flask import current_app

from .. import sites
from ..api.edge import CONFIG_SERVICE_KEY
from . import cmp_group


@cmp_group.group("site")
def site_group() -> None:
    """Create, change and list the sites that embed the banner."""


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def site_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options shared by create and update."""
    options = [
        click.option("--name", help="Shown to visitors and auditors."),
        click.option("--origin", "origins", multiple=True,
                     help="An allowed origin, e.g. https://shop.example.com (repeatable)."),
        click.option("--vendors", help="'all' or a comma-separated list of vendor ids."),
        click.option("--lifetime-days", type=int, help="Consent lifetime (1–395, default 365)."),
        click.option("--languages", help="Comma-separated, e.g. en,de."),
        click.option("--cookie-domain", help="Share consent across subdomains, e.g. .example.com."),
        click.option("--privacy-policy-url", help="The site's privacy policy."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _spec(name: str | None, origins: tuple[str, ...], vendors: str | None,
          lifetime_days: int | None, languages: str | None, cookie_domain: str | None,
          privacy_policy_url: str | None) -> sites.SiteSpec:
    return sites.SiteSpec(
        name=name, origins=list(origins) or None,
        all_vendors=vendors == "all", vendor_ids=None if vendors == "all" else _csv(vendors),
        lifetime_days=lifetime_days, languages=_csv(languages), cookie_domain=cookie_domain,
        privacy_policy_url=privacy_policy_url,
    )


def _run(action: Callable[[], sites.Site], verb: str) -> None:
    try:
        site = action()
    except sites.SiteError as error:
        raise click.ClickException(str(error)) from None
    current_app.extensions[CONFIG_SERVICE_KEY].forget()
    click.echo(f"site {site.key}: {verb}")
    _describe(site)


def _describe(site: sites.Site) -> None:
    vendors = "all" if site.vendor_ids is None else ",".join(site.vendor_ids)
    click.echo(f"  name: {site.name}\n  origins: {' '.join(site.origins)}\n"
               f"  languages: {','.join(site.languages)}\n"
               f"  lifetime: {site.consent_lifetime_days} days\n  vendors: {vendors}")


@site_group.command("create")
@click.argument("key")
@site_options
def create(key: str, **options: Any) -> None:
    """Create the site KEY (the value of data-site in the embed snippet)."""
    _run(lambda: sites.create_site(key, _spec(**options)), "created")


@site_group.command("update")
@click.argument("key")
@site_options
def update(key: str, **options: Any) -> None:
    """Change the given settings of the site KEY."""
    _run(lambda: sites.update_site(key, _spec(**options)), "updated")


@site_group.command("list")
def list_sites() -> None:
    """Every site with its settings."""
    for site in sites.list_sites():
        click.echo(site.key)
        _describe(site)
