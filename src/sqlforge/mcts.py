"""SQL-o1's clause-level Monte Carlo tree search with self-reward.

State = SQL prefix; action = the next clause (cut by `sqlforge.clauses`);
terminal at the end of the query or at `max_depth`. Expansion takes
the greedy and `expand_n - 1` sampled completions of the prefix with the PSG prompt (prefix in the
"incomplete SQL" slot and forced as the start of the reply), cuts each at its
next clause, dedupes and keeps the `top_k` by self-reward:

    intuition = min(99.99, 100 + sum log p(action | prompt, prefix))
    goal      = 100 + log p(full SQL, then end of reply | prompt)   (terminal nodes, else 0)
    reward    = alpha * intuition + (1 - alpha) * goal

Optional terminal signals (params, default off as in SQL-o1): `rm_weight` x the
reward model's score and `exec_weight` if the SQL runs and returns rows; neither
ever sees the gold.

Selection by UCT `Q + w * sqrt(ln N_parent / N_child)`, a greedy rollout by
fast reward, and backup of the path's mean reward with Q = max. All
questions advance in lock-step so every expansion round is one batched
generate call and one batched score call. The search never reads the gold.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from sqlforge.clauses import next_clause
from sqlforge.config import MCTSConfig
from sqlforge.prompts import render, sql_messages


@dataclass
class Node:
    prefix: str
    action: str = ""
    depth: int = 0
    terminal: bool = False
    parent: "Node | None" = None
    children: list["Node"] = field(default_factory=list)
    expanded: bool = False
    intuition: float = 0.0
    goal: float = 0.0
    reward: float = 0.0
    rm_score: float | None = None
    executes: bool | None = None
    visits: int = 0
    q: float = -math.inf


def uct(child: Node, parent_visits: int, w: float) -> float:
    if child.visits == 0:
        return math.inf
    return child.q + w * math.sqrt(math.log(max(1, parent_visits)) / child.visits)


def select(root: Node, w: float) -> list[Node]:
    """Path from the root to the node to expand next (UCT; ties and unvisited children by fast reward)."""
    path = [root]
    node = root
    while node.expanded and node.children and not node.terminal:
        node = max(node.children, key=lambda c: (uct(c, node.visits, w), c.reward))
        path.append(node)
    return path


def backup(path: list[Node]) -> None:
    rewards = [n.reward for n in path[1:]]
    value = sum(rewards) / len(rewards) if rewards else 0.0
    for node in path:
        node.visits += 1
        node.q = max(node.q, value)


class Search:
    """One question's tree."""

    def __init__(self, record: dict, tokenizer, prefix_in_prompt: bool = True,
                 templates: dict[str, str] | None = None):
        self.record = record
        self.tokenizer = tokenizer
        self.prefix_in_prompt = prefix_in_prompt
        self.templates = templates  # None: prompts/; else the model folder's own (prompt_settings)
        self.root = Node(prefix="")
        self.base_prompt = self.prompt("")

    def prompt(self, prefix: str) -> str:
        """The reply always starts with the prefix. SQL-o1 (`mcts.prompt: psg`) also writes it into the
        user message's "incomplete SQL" slot; `continuation` leaves that slot empty, so a node's greedy
        continuation is exactly the policy's own greedy SQL."""
        slot = prefix if self.prefix_in_prompt else ""
        return render(self.tokenizer, self.messages(slot)) + prefix

    def messages(self, slot: str = "") -> list[dict]:
        rec = self.record
        return sql_messages(rec["schema"], rec["question"], rec.get("evidence", ""), slot, self.templates)

    def terminals(self) -> list[Node]:
        out, stack = [], [self.root]
        while stack:
            node = stack.pop()
            if node.terminal and node is not self.root:
                out.append(node)
            stack.extend(node.children)
        return out


class MCTS:
    def __init__(self, engine, tokenizer, settings: MCTSConfig, max_new_tokens: int, reward_model=None,
                 executor=None):
        self.engine = engine
        self.tokenizer = tokenizer
        self.s = settings
        self.max_new_tokens = max_new_tokens
        self.reward_model = reward_model if settings.rm_weight else None
        self.executor = executor if settings.exec_weight else None

    def _expand(self, jobs: list[tuple[Search, Node]]) -> None:
        s = self.s
        # SQL-o1 expands with beams; here the greedy continuation plus expand_n - 1 samples, so the
        # policy's most likely clause is always among the children
        prompts = [search.prompt(node.prefix) for search, node in jobs]
        outputs = self.engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=self.max_new_tokens)
        if s.expand_n > 1:
            # one seed for every round: the engine seeds each row by its prompt (which holds the prefix),
            # so a node's samples do not depend on which other nodes or questions share the batch
            sampled = self.engine.generate(prompts, n=s.expand_n - 1, temperature=s.temperature,
                                           max_new_tokens=self.max_new_tokens, seed=s.seed)
            outputs = [greedy + more for greedy, more in zip(outputs, sampled)]
        candidates: list[tuple[Search, Node, Node]] = []
        for (search, node), completions in zip(jobs, outputs):
            node.expanded = True
            seen = set()
            for comp in completions:
                action, ends = next_clause(node.prefix, comp.text)
                if action in seen:
                    continue
                seen.add(action)
                prefix = f"{node.prefix} {action}".strip()
                child = Node(prefix=prefix, action=action, depth=node.depth + 1, parent=node,
                             terminal=ends or not action or node.depth + 1 >= s.max_depth)
                candidates.append((search, node, child))
        if not candidates:
            return
        # self-reward: the policy's own log-probs, batched over every candidate of every question
        continuation = [(" " + c.action if n.prefix else c.action) for _, n, c in candidates]
        intuition = self.engine.score([se.prompt(n.prefix) for se, n, _ in candidates], continuation)
        terminal = [(se, c) for se, _, c in candidates if c.terminal]
        # a complete SQL's likelihood includes ending there: without the end token a truncated query
        # ("... FROM t" where the policy wants "GROUP BY") would always outscore its own completion
        end = self.tokenizer.eos_token or ""
        goals = self.engine.score([se.base_prompt for se, _ in terminal], [c.prefix + end for _, c in terminal])
        goal_of = {id(c): 100.0 + g.total for (_, c), g in zip(terminal, goals)}
        extra = self._terminal_signals(terminal)
        for (_, node, child), score in zip(candidates, intuition):
            child.intuition = min(99.99, 100.0 + score.total)
            child.goal = goal_of.get(id(child), 0.0)
            child.reward = s.alpha * child.intuition + (1 - s.alpha) * child.goal + extra.get(id(child), 0.0)
            node.children.append(child)
        for _, node in jobs:
            node.children = sorted(node.children, key=lambda c: -c.reward)[: s.top_k]
            if not node.children:
                node.terminal = True

    def _terminal_signals(self, terminal: list[tuple[Search, Node]]) -> dict[int, float]:
        """Reward-model and execution bonuses of complete SQLs (batched; no gold involved)."""
        extra: dict[int, float] = {}
        if self.reward_model is not None and terminal:
            messages = [se.messages() for se, _ in terminal]
            for (_, child), score in zip(terminal, self.reward_model.score(messages, [c.prefix for _, c in terminal])):
                child.rm_score = score
                extra[id(child)] = self.s.rm_weight * score
        if self.executor is not None and terminal:
            results = self.executor.execute_many([(se.record["db_path"], c.prefix) for se, c in terminal])
            for (_, child), result in zip(terminal, results):
                child.executes = result.ok and bool(result.rows)
                extra[id(child)] = extra.get(id(child), 0.0) + self.s.exec_weight * child.executes
        return extra

    def run(self, searches: list[Search], progress=None) -> None:
        for iteration in range(self.s.iterations):
            paths = [select(se.root, self.s.w_exp) for se in searches]
            # expansion, then a greedy rollout by fast reward: every step is one batched round
            while True:
                jobs = []
                for se, path in zip(searches, paths):
                    node = path[-1]
                    while node.expanded and node.children and not node.terminal:
                        node = max(node.children, key=lambda c: c.reward)
                        path.append(node)
                    if not node.terminal and not node.expanded:
                        jobs.append((se, node))
                if not jobs:
                    break
                self._expand(jobs)
            for path in paths:
                backup(path)
            if progress:
                progress(iteration + 1)


def candidates(search: Search) -> list[dict]:
    """Every distinct complete SQL the search found, with its statistics."""
    best: dict[str, Node] = {}
    for node in search.terminals():
        if node.prefix and (node.prefix not in best or node.q > best[node.prefix].q):
            best[node.prefix] = node
    return [{"sql": sql, "visits": n.visits, "q": n.q if n.visits else None, "reward": n.reward,
             "intuition": n.intuition, "goal": n.goal, "rm_score": n.rm_score} for sql, n in sorted(best.items())]


def annotate_execution(cand: dict, result) -> None:
    """The execution signal selectors may use (runs, returns rows, which result); never the gold."""
    cand["exec_status"] = "ok" if result.ok and result.rows else ("empty" if result.ok else result.error_kind)
    cand["exec_key"] = hashlib.sha1(repr(sorted(map(repr, result.rows))).encode()).hexdigest()[:12]


def choose(cands: list[dict], selector: str) -> dict | None:
    """Pick one candidate without the gold: candidates whose SQL runs and returns rows come first.

    best_reward: highest self-reward (for complete SQL it is dominated by log p(full SQL));
    most_visited: most MCTS visits; vote: the execution result most candidates share (by visits);
    reward_model: the reward model's highest score.
    """
    if not cands:
        return None
    pool = [c for c in cands if c.get("exec_status") == "ok"] or cands
    if selector == "most_visited":
        return max(pool, key=lambda c: (c["visits"], c["reward"]))
    if selector == "reward_model":
        return max(pool, key=lambda c: (c["rm_score"], c["reward"]))
    if selector == "vote":
        weight: dict = {}
        for c in pool:
            weight[c.get("exec_key")] = weight.get(c.get("exec_key"), 0) + max(1, c["visits"])
        return max(pool, key=lambda c: (weight[c.get("exec_key")], c["reward"]))
    return max(pool, key=lambda c: (c["reward"], c["visits"]))
