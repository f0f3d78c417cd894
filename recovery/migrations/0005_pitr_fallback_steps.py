from django.db import migrations


def add_steps(apps, schema_editor):
    """Existing database plan and failover drill fall back to our own PITR when there is no Neon
    (new installs get these steps from recovery.defaults)."""
    from recovery.defaults import PLANS

    Plan = apps.get_model("recovery", "RecoveryPlan")
    Step = apps.get_model("recovery", "PlanStep")
    changes = {"database": ("branch_pitr", ["pitr_restore"]), "database-failover": ("branch", ["pitr", "pitr_stop"])}
    for slug, (after, names) in changes.items():
        plan = Plan.objects.filter(slug=slug).first()
        if plan is None or Step.objects.filter(plan=plan, name__in=names).exists():
            continue
        anchor = Step.objects.filter(plan=plan, name=after).first()
        if anchor is None:
            continue
        spec = {name: (title, action, opts) for name, title, action, opts in PLANS[slug]["steps"]}
        _, _, anchor_opts = spec[after]
        anchor.on_failure, anchor.fallback = anchor_opts["on_failure"], anchor_opts["fallback"]
        anchor.save(update_fields=["on_failure", "fallback"])
        later = list(Step.objects.filter(plan=plan, position__gt=anchor.position).order_by("-position"))
        for step in later:  # from the end, so positions never collide
            step.position += len(names)
            step.save(update_fields=["position"])
        for offset, name in enumerate(names, start=1):
            title, action, opts = spec[name]
            Step.objects.create(
                plan=plan,
                position=anchor.position + offset,
                name=name,
                title=title,
                action=action,
                service=opts.get("service", plan.service),
                params=opts.get("params", {}),
                on_failure=opts.get("on_failure", "abort"),
                fallback=opts.get("fallback", ""),
                only_as_fallback=opts.get("only_as_fallback", False),
                requires=opts.get("requires", ""),
            )


class Migration(migrations.Migration):
    dependencies = [("recovery", "0004_service_catalog")]
    operations = [migrations.RunPython(add_steps, migrations.RunPython.noop)]
