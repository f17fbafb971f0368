"""``zonewarden simulate``: a deterministic capture of a whole plant, with labelled attacks and the truth."""

from __future__ import annotations

import sys

import click

from zonewarden.errors import ConfigError

EXIT_USAGE = 2


@click.command()
@click.option("--site", "site_path", type=click.Path(dir_okay=False), default=None,
              help="Site description (YAML). Default: the reference plant shipped with zonewarden.")
@click.option("--scenario", default=None,
              help="Attack scenario(s), comma-separated: a name, 'demo' (three attacks), 'all' or 'baseline'.")
@click.option("--out", "-o", "out", type=click.Path(dir_okay=False), default=None,
              help="Capture to write: .pcap (microseconds) or .pcapng.")
@click.option("--labels", "labels", type=click.Path(dir_okay=False), default=None,
              help="Write one JSON object per attack step (JSONL) here.")
@click.option("--truth", "truth", type=click.Path(dir_okay=False), default=None,
              help="Write the site's assets and edges (JSON) here.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same bytes.")
@click.option("--duration", type=float, default=300.0, show_default=True, help="Seconds of plant time.")
@click.option("--rate-scale", type=float, default=1.0, show_default=True,
              help="Multiply every polling rate (benchmark captures of any size).")
@click.option("--list-scenarios", is_flag=True, help="List the attack scenarios and exit.")
@click.option("--print-site", is_flag=True, help="Print the reference site YAML (to copy and edit) and exit.")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def simulate(site_path: str | None, scenario: str | None, out: str | None, labels: str | None, truth: str | None,
             seed: int, duration: float, rate_scale: float, list_scenarios: bool, print_site: bool,
             quiet: bool) -> None:
    """Simulate a converged IT/OT plant and write its traffic as a capture.

    Every device polls, reports and answers identity requests as its real counterpart does, with process
    values from simple physics; attacks are injected at their default time (or the `at:` of an `attacks:`
    entry in the site file). Example:

    \b
        zonewarden simulate --scenario demo --duration 120 --out plant.pcap --labels labels.jsonl --truth truth.json
    """
    from zonewarden.simulate import attacks
    from zonewarden.simulate.engine import simulate as run
    from zonewarden.simulate.site import default_site_text, load_site

    if print_site:
        click.echo(default_site_text(), nl=False)
        return
    if list_scenarios:
        for name in attacks.scenario_names():
            click.echo(f"{name:18} {attacks.REGISTRY[name].summary}")
        for bundle, names in attacks.BUNDLES.items():
            click.echo(f"{bundle:18} {', '.join(names) or 'no attacks'}")
        click.echo(f"{'all':18} every scenario above at its default time")
        return
    try:
        if out is None:
            raise ConfigError("--out is required (the capture to write)")
        site = load_site(site_path)
        specs = attacks.expand(scenario) if scenario else []
        result = run(site, out, scenarios=specs, seed=seed, duration_s=duration, rate_scale=rate_scale,
                     labels_path=labels, truth_path=truth)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if not quiet:
        rate = result.frames / result.seconds if result.seconds else 0.0
        click.echo(f"{out}: {result.frames} frames, {duration:g} s of plant time from {site.start:%Y-%m-%d %H:%M:%S} "
                   f"UTC, seed {seed}, in {result.seconds:.1f} s ({rate:,.0f} frames/s)", err=True)
        if result.attacks:
            click.echo(f"attacks: {', '.join(result.attacks)}; {len(result.labels)} labelled steps"
                       + (f" -> {labels}" if labels else ""), err=True)
        if truth:
            click.echo(f"truth: {len(result.truth['assets'])} assets, {len(result.truth['edges'])} edges -> {truth}",
                       err=True)
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
