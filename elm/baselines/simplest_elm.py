"""The "simplest ELM" of Table S4: an :class:`~elm.ELMConfig`, not a model class of its own.

Why a baseline module: App. C compares the classic LIF neuron with the smallest ELM that still
has the ELM's ingredients (a synaptic trace, one memory unit, a learnt timescale), so the
paper treats it as a tiny baseline beside the LIF even though it is an ELM.
"""

from __future__ import annotations

from elm.model import ELMConfig

__all__ = ["simplest_elm_config"]


def simplest_elm_config(num_input: int = 1278, num_output: int = 2, *,
                        tau_m_init: float = 20.0, **changes) -> ELMConfig:
    """The "simplest ELM" of Table S4: one memory unit, one timescale, linear synaptic integration.

    All synapses sit on a single branch (``d_tree=1``, ``d_brch=num_input``, the "neuronio"
    routing, which with one branch is a permutation of the inputs), so the branch input is the
    linear sum ``sum_i w_s,i s_i,t`` of the synaptic traces; with ``mlp_layers=0`` the "MLP" is
    one linear map from (branch, memory) to the memory update. The weights ``w_s`` are
    non-negative, as in every ELM; NeuronIO's inhibitory inputs arrive negated
    (:func:`elm.data.neuronio.transform_inputs`), so they still inhibit. Trainable, for 1278
    inputs and 2 outputs::

        w_s       1278   synaptic weights
        tau_m        1   the memory timescale (learnable, as the paper says)
        MLP          3   weights from the branch and from the memory, one bias
        w_y, b_y     4   readout 1 -> 2 and its biases
        total     1286   = Table S4

    The vanilla-ELM alternative (no routing, ``learn_w_s=False`` so the linear map carries the
    signed weights) has ``1279 + 1 + 1 + 4 = 1285``, one short: the single branch's extra MLP
    weight is the "implementation detail" that makes 1286.

    A single unit cannot be spread over an init range, so ``tau_m`` starts at ``tau_m_init``
    ms (20 ms, a typical cortical membrane time constant; our choice) and is bounded to the
    Table S1 range 0-500 ms; ``lambda_value`` is Table S1's NeuronIO value 10. ``changes``
    override any :class:`ELMConfig` field.
    """
    if num_input < 2 or num_input % 2:
        raise ValueError("simplest_elm_config puts every input on one branch with the "
                         "'neuronio' routing, which needs an even num_input >= 2, "
                         f"got {num_input}")
    if not 0.0 < tau_m_init < 500.0:
        raise ValueError(f"tau_m_init must lie in (0, 500) ms, got {tau_m_init}")
    settings = dict(d_m=1, mlp_layers=0, routing="neuronio", d_tree=1, d_brch=num_input,
                    learn_tau_m=True, tau_m_init=(tau_m_init, tau_m_init),
                    tau_m_bounds=(0.0, 500.0), lambda_value=10.0)
    return ELMConfig(num_input, num_output, **{**settings, **changes})
