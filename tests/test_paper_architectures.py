"""wgan_jax/paper/architectures.py: the six runs' configs and their check, the verdict on
hand-made numbers, and a quick run."""

import math
import os

import pytest

from wgan_jax import checks
from wgan_jax import experiment
from wgan_jax.configs import architectures as part_config
from wgan_jax.paper import PartResult
from wgan_jax.paper import architectures as arch


def test_configs_follow_the_papers_figures():
  config = part_config.get_config()
  runs = experiment.sweep(config)
  assert list(runs) == [f"{m}_{g}" for m in arch.METHODS for g in arch.GENERATORS]
  for generator in arch.GENERATORS:
    wgan, gan = runs[f"wgan_{generator}"], runs[f"gan_{generator}"]
    for c in (wgan, gan):
      assert (c.generator.name, c.critic.name, c.critic.norm) == (generator, "dcgan", "batch")
      assert (c.critic.features, c.generator.features, c.data.dataset) == (
          64, 64, "mnist_offline")
      assert c.generator_optimizer.clip is None
      # Every checkpoint is kept: image_curves judges each.
      assert c.run.keep_checkpoints > c.schedule.num_steps // c.run.checkpoint_every
    for opt in (wgan.generator_optimizer, wgan.critic_optimizer):
      assert (opt.name, opt.learning_rate) == ("rmsprop", 5e-5)
    for opt in (gan.generator_optimizer, gan.critic_optimizer):  # the DCGAN baseline's
      assert (opt.name, opt.learning_rate, opt.b1, opt.b2) == ("adam", 2e-4, 0.5, 0.999)
    assert (wgan.objective.method, wgan.schedule.n_critic, wgan.critic_optimizer.clip) == (
        "wgan", 5, 0.01)
    assert (gan.objective.method, gan.schedule.n_critic, gan.critic_optimizer.clip) == (
        "gan", 1, None)
    assert gan.objective.gan_generator_loss == "nonsaturating"
    # The authors' critic schedule for WGAN; GAN keeps the DCGAN baseline's single step.
    assert (wgan.schedule.official_schedule, gan.schedule.official_schedule) == (True, False)
    assert wgan.schedule.num_steps == gan.schedule.num_steps >= 2000


def test_check_needs_both_methods_for_every_generator_in_order():
  part_config.check(part_config.get_config())
  part_config.check(part_config.get_config("quick"))  # one generator
  config = part_config.get_config("quick")
  config.sweep.runs = "wgan_mlp,gan_mlp"
  part_config.check(config)
  for runs, expected in (("gan_dcgan,wgan_dcgan", "wgan_dcgan,gan_dcgan"),
                         ("wgan_dcgan,gan_dcgan,wgan_mlp", "wgan_dcgan,wgan_mlp,gan_dcgan,gan_mlp"),
                         ("wgan_dcgan", "wgan_dcgan,gan_dcgan")):
    config.sweep.runs = runs
    with pytest.raises(checks.ConfigError) as error:
      part_config.check(config)
    assert str(error.value) == (f"--config.sweep.runs must pair every generator with both "
                                f"methods, in the order {expected}; got {runs}")
  config.sweep.runs = "wgan_dcgan,gan_dcgan"
  config.sweep.datasets = "mnist_offline"  # every run's name would be mnist_offline/<run>
  with pytest.raises(checks.ConfigError, match="must pair every generator"):
    part_config.check(config)


def test_how_says_what_the_runs_do():
  config = part_config.get_config()
  how = arch._how(config, experiment.sweep(config), 0.99)
  assert "5 critic iterations and the official critic schedule on" in how
  assert "one discriminator iteration, official schedule off" in how
  assert f"{config.schedule.num_steps} generator iterations" in how
  # 28 = 7 · 2², the paper's 64 = 4 · 2⁴.
  assert "up-sample 2 times from a 7×7 map" in how and "up-sample 4 times" in how
  assert len(arch.CHANGES) == 4


def row(classes, top):
  return {"classes_covered": classes, "mean_top_prob": top}


def rows(**by_run):
  good = row(10, 0.9)
  return {f"{m}_{g}": by_run.get(f"{m}_{g}", good) for m in arch.METHODS for g in arch.GENERATORS}


def test_produces_digits_thresholds():
  assert arch.produces_digits(row(arch.MIN_CLASSES, arch.MIN_TOP_PROB))
  assert not arch.produces_digits(row(arch.MIN_CLASSES - 1, 0.99))  # a collapse
  assert not arch.produces_digits(row(10, arch.MIN_TOP_PROB - 0.01))  # a failure
  assert not arch.produces_digits(row(0, math.nan))  # a diverged run


def test_verdict_from_hand_made_numbers():
  collapsed, blurry = row(1, 0.95), row(10, 0.3)
  verdict, outcomes = arch.judge(rows(gan_mlp=collapsed, gan_dcgan_nobn_constant=blurry))
  assert verdict == "holds"
  assert [o["outcome"] for o in outcomes] == ["both", "WGAN only", "WGAN only"]
  assert arch.judge(rows())[0] == "does not hold"  # GAN works with every generator
  assert arch.judge(rows(wgan_mlp=collapsed))[0] == "does not hold"  # GAN only, for the MLP
  # Both fail with the MLP generator, GAN alone with no BN: no contradiction, no full support.
  assert arch.judge(rows(wgan_mlp=collapsed, gan_mlp=collapsed,
                         gan_dcgan_nobn_constant=blurry))[0] == "unclear"


def test_quick_run_writes_its_result(tmp_path):
  result = arch.run(str(tmp_path), quick=True)
  assert PartResult.from_json((tmp_path / "result.json").read_text()) == result
  assert result.figures == [arch.FIGURE] and os.path.getsize(tmp_path / arch.FIGURE) > 1000
  (claim,) = result.claims
  assert claim.verdict in ("holds", "does not hold", "unclear")
  assert result.changes == arch.CHANGES
  quick = part_config.get_config("quick")
  for name in quick.sweep.runs.split(","):
    assert f"| {name} | {quick.schedule.num_steps} |" in result.table_md
  assert "| real digits" in result.table_md
  # The BatchNorm generator judged with both statistics, the config's first.
  assert result.table_md.index("| wgan_dcgan | batch |") < result.table_md.index(
      "| wgan_dcgan | running |")
