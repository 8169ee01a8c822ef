"""SQL-o1's clause-level Monte Carlo tree search with self-reward.

State = SQL prefix; action = the next clause (cut by `sqlforge.clauses`,
subquery clauses included by default); terminal when the SQL ends or at
`max_depth`. Expansion samples `expand_n` completions of the prefix with the
PSG prompt (prefix in the "incomplete SQL" slot and forced as the start of the
reply); completions the token limit cut off are dropped (SQL-o1 keeps only
completions that end). Each is cut at its next clause, deduped, scored, and
the `top_k` by intuition become children:

    intuition = min(99.99, 100 + sum log p(action [+ end of reply] | prompt, prefix))
    goal      = 100 + log p(full SQL, then end of reply | prompt)   (SQL that ends, else 0)
    reward    = alpha * intuition + (1 - alpha) * goal

Optional terminal signals (params, default off as in SQL-o1): `rm_weight` x the
reward model's score and `exec_weight` if the SQL runs and returns rows; neither
ever sees the gold.

One iteration, as SQL-o1's reasoners/algorithm/mcts.py: select by UCT
`Q + w * sqrt(ln N_parent / max(1, N_child))`, where an unvisited child's Q is
its intuition; expand the node reached; roll out greedily by intuition to a
terminal node, expanding on the way; back up: each node on the path gets the
mean reward from itself down to the leaf, and Q = max over its visits.
All questions advance in lock-step so every expansion round is one batched
generate call and one batched score call. The search never reads the gold.
docs/fidelity.md lists every rule beside SQL-o1's code.

A reasoning model (trained with `preprocess.reasoning`: a rationale, then the SQL in a fenced block) is
searched after its rationale: before the first iteration, one batched greedy pass writes each question's
rationale, and the reply up to the opening fence (`Search.lead`: rationale, blank line, ```sql) is fixed.
Every prompt is then the inference prompt + lead + SQL prefix, so states and actions stay SQL clauses;
a completion is read up to its closing fence, and the end of the SQL that `intuition` and `goal` score is
the closing fence and the end of the reply. The rationale is never searched: the clause-level tree is
SQL-o1's, conditioned on one rationale.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from sqlforge.clauses import next_clause
from sqlforge.config import MCTSConfig
from sqlforge.extract import split_rationale
from sqlforge.prompts import render
from sqlforge.records import inference_messages

# a reasoning reply's SQL block, as preprocess writes reasoning targets (data.rationale.target)
FENCE_OPEN, FENCE_CLOSE = "```sql\n", "\n```"


def reasoning_lead(reply: str) -> str:
    """The start of a reasoning reply up to its SQL: the rationale (the text before the fenced block
    extract_sql reads, or the whole reply when it has none), a blank line and the opening fence."""
    rationale, _ = split_rationale(reply) if "```" in reply else (reply.strip(), "")
    return f"{rationale}\n\n{FENCE_OPEN}" if rationale else FENCE_OPEN


@dataclass
class Node:
    prefix: str
    action: str = ""
    depth: int = 0
    terminal: bool = False  # the SQL ended here (`complete`) or max_depth was reached
    complete: bool = False  # the policy ended the SQL after this action (SQL-o1: the action ends with ";")
    parent: "Node | None" = None
    children: list["Node"] = field(default_factory=list)
    expanded: bool = False  # expanded with no children = a dead end (every completion was dropped)
    intuition: float = 0.0
    goal: float = 0.0
    reward: float = 0.0  # the root's stays 0, as SQL-o1's root fast_reward
    rm_score: float | None = None
    executes: bool | None = None
    visits: int = 0
    q: float = -math.inf


def uct(child: Node, parent_visits: int, w: float) -> float:
    """SQL-o1's UCT: an unvisited child's Q is its intuition and its visit count counts as 1."""
    q = child.q if child.visits else child.intuition
    return q + w * math.sqrt(math.log(max(1, parent_visits)) / max(1, child.visits))


def select(root: Node, w: float) -> list[Node]:
    """Path from the root down by UCT (first child on ties) to a node not yet expanded, a terminal
    node or a dead end."""
    path = [root]
    node = root
    while node.expanded and node.children and not node.terminal:
        node = max(node.children, key=lambda c: uct(c, node.visits, w))
        path.append(node)
    return path


def rollout_child(node: Node) -> Node:
    """SQL-o1's simulate step: the child with the highest intuition (fast reward), first on ties."""
    return max(node.children, key=lambda c: c.intuition)


def backup(path: list[Node]) -> None:
    """Each node gets the mean reward of the path from itself down to the leaf; Q = max over visits."""
    total = 0.0
    for i, node in enumerate(reversed(path)):
        total += node.reward
        node.visits += 1
        node.q = max(node.q, total / (i + 1))


def path_reward(node: Node) -> float:
    """Mean reward of the path from the root's child down to `node`: what SQL-o1's output strategy
    `max_reward` maximises over terminal paths."""
    rewards = []
    while node.parent is not None:
        rewards.append(node.reward)
        node = node.parent
    return sum(rewards) / len(rewards) if rewards else 0.0


class Search:
    """One question's tree."""

    def __init__(self, record: dict, tokenizer, prefix_in_prompt: bool = True,
                 templates: dict[str, str] | None = None, reasoning: bool = False):
        self.record = record
        self.tokenizer = tokenizer
        self.prefix_in_prompt = prefix_in_prompt
        self.templates = templates  # None: prompts/; else the model folder's own (prompt_settings)
        self.reasoning = reasoning  # a reasoning model: the search runs after its rationale (`lead`)
        self.lead = ""  # reasoning: rationale + opening fence, written by MCTS.run before the first iteration
        self.root = Node(prefix="")

    @property
    def base_prompt(self) -> str:
        return self.prompt("")

    @property
    def close(self) -> str:
        """What ends the SQL in the reply, besides the end token: a reasoning reply's closing fence."""
        return FENCE_CLOSE if self.reasoning else ""

    def prompt(self, prefix: str) -> str:
        """The reply always starts with the prefix (after the rationale of a reasoning model). SQL-o1
        (`mcts.prompt: psg`) also writes it into the user message's "incomplete SQL" slot; `continuation`
        leaves that slot empty, so a node's greedy continuation is exactly the policy's own greedy SQL."""
        slot = prefix if self.prefix_in_prompt else ""
        return render(self.tokenizer, self.messages(slot)) + self.lead + prefix

    def messages(self, slot: str = "") -> list[dict]:
        rec = self.record
        return inference_messages(rec, slot, self.templates)

    def terminals(self) -> list[Node]:
        return terminals(self.root)


class MCTS:
    def __init__(self, engine, tokenizer, settings: MCTSConfig, max_new_tokens: int, reward_model=None,
                 executor=None):
        self.engine = engine
        self.tokenizer = tokenizer
        self.s = settings
        self.max_new_tokens = max_new_tokens
        self.reward_model = reward_model if settings.rm_weight else None
        self.executor = executor if settings.exec_weight else None
        self.completions = 0  # generated during expansion
        self.dropped_truncated = 0  # of them, cut off by the token limit and dropped

    def _completions(self, prompts: list[str]) -> list[list]:
        """`expansion: samples` (SQL-o1 decodes 3 beams by sampled beam search, temperature 0.9, top_p 0.7;
        the engines here have no beam search, so: expand_n independent samples with the same temperature
        and nucleus) or `greedy_plus_samples` (the greedy completion and expand_n - 1 samples).
        One seed for every round: the engine seeds each row by its prompt (which holds the prefix), so a
        node's samples do not depend on which other nodes or questions share the batch."""
        s = self.s
        n_sampled = s.expand_n if s.expansion == "samples" else s.expand_n - 1
        outputs = [[] for _ in prompts]
        if s.expansion == "greedy_plus_samples":
            outputs = self.engine.generate(prompts, n=1, temperature=0.0, max_new_tokens=self.max_new_tokens)
        if n_sampled > 0:
            sampled = self.engine.generate(prompts, n=n_sampled, temperature=s.temperature, top_p=s.top_p,
                                           max_new_tokens=self.max_new_tokens, seed=s.seed)
            outputs = [first + more for first, more in zip(outputs, sampled)]
        return outputs

    def _children(self, node: Node, completions: list, reasoning: bool = False) -> list[Node]:
        """Distinct next-clause actions of a node's completions (before scoring); a reasoning reply's
        completion is read up to its closing fence."""
        s = self.s
        out, seen = [], set()
        for comp in completions:
            self.completions += 1
            if s.drop_truncated and comp.finish_reason == "length":
                self.dropped_truncated += 1
                continue  # SQL-o1 keeps only completions that end (contain ";")
            text = comp.text.split("```", 1)[0].rstrip() if reasoning else comp.text
            action, ends = next_clause(node.prefix, text, s.clauses)
            # keep the policy's own spacing ("IN (SELECT"); SQL-o1 joins actions with one space
            sep = text[:len(text) - len(text.lstrip())] if node.prefix and action else ""
            prefix = node.prefix + sep + action
            if action in seen or not prefix.strip():
                continue
            seen.add(action)
            depth = node.depth + 1
            out.append(Node(prefix=prefix, action=sep + action, depth=depth, parent=node, complete=ends,
                            terminal=ends or depth >= s.max_depth))
        return out

    def _expand(self, jobs: list[tuple[Search, Node]]) -> None:
        s = self.s
        outputs = self._completions([search.prompt(node.prefix) for search, node in jobs])
        candidates: list[tuple[Search, Node, Node]] = []
        for (search, node), completions in zip(jobs, outputs):
            node.expanded = True
            candidates += [(search, node, child) for child in self._children(node, completions, search.reasoning)]
        if not candidates:
            return
        # intuition: the policy's own log-probs of the action after the prefix, batched over every candidate
        # of every question; an action that ends the SQL includes the end of the reply (SQL-o1's actions that
        # end carry their ";")
        end = self.tokenizer.eos_token or ""
        continuation = [c.action + (se.close + end if c.complete else "") for se, _, c in candidates]
        intuition = self.engine.score([se.prompt(n.prefix) for se, n, _ in candidates], continuation)
        for (_, node, child), score in zip(candidates, intuition):
            child.intuition = min(99.99, 100.0 + score.total)
            node.children.append(child)
        # SQL-o1 keeps the top_k actions by intuition (stable: generation order on ties)
        kept = []
        for search, node in jobs:
            node.children = sorted(node.children, key=lambda c: -c.intuition)[: s.top_k]
            kept += [(search, child) for child in node.children]
        # goal: a complete SQL's likelihood including ending there, with the plain prompt (empty slot)
        complete = [(se, c) for se, c in kept if c.complete]
        goals = self.engine.score([se.base_prompt for se, _ in complete], [c.prefix + se.close + end for se, c in complete])
        goal_of = {id(c): 100.0 + g.total for (_, c), g in zip(complete, goals)}
        extra = self._terminal_signals([(se, c) for se, c in kept if c.terminal])
        for _, child in kept:
            child.goal = goal_of.get(id(child), 0.0)
            child.reward = s.alpha * child.intuition + (1 - s.alpha) * child.goal + extra.get(id(child), 0.0)

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

    def write_leads(self, searches: list[Search]) -> None:
        """A reasoning model's rationale for each search that has none yet: one batched greedy pass with
        the plain inference prompt, cut at its SQL block (`reasoning_lead`)."""
        todo = [se for se in searches if getattr(se, "reasoning", False) and not se.lead]  # tree-only stand-ins
        if todo:
            outputs = self.engine.generate([se.base_prompt for se in todo], n=1, temperature=0.0,
                                           max_new_tokens=self.max_new_tokens)
            for se, out in zip(todo, outputs):
                se.lead = reasoning_lead(out[0].text)

    def run(self, searches: list[Search], progress=None) -> None:
        self.write_leads(searches)
        for iteration in range(self.s.iterations):
            paths = [select(se.root, self.s.w_exp) for se in searches]
            # expand the selected node, then roll out by intuition to a terminal node or a dead end,
            # expanding each node on the way: every step is one batched round over all questions
            while True:
                jobs = []
                for se, path in zip(searches, paths):
                    node = path[-1]
                    while not node.terminal and node.expanded and node.children:
                        node = rollout_child(node)
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


def terminals(root: Node) -> list[Node]:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.terminal and node is not root:
            out.append(node)
        stack.extend(node.children)
    return out


def candidates(search: "Search | Node") -> list[dict]:
    """Every distinct SQL at a terminal node of a search (or of the tree under a root node), with its
    statistics: per SQL, the node with the highest Q; `path_reward` is the best path mean over the
    visited nodes holding that SQL, None if none was."""
    root = search if isinstance(search, Node) else search.root
    best: dict[str, Node] = {}
    best_path: dict[str, float] = {}
    for node in terminals(root):
        sql = node.prefix
        if sql not in best or node.q > best[sql].q:
            best[sql] = node
        if node.visits:
            best_path[sql] = max(best_path.get(sql, -math.inf), path_reward(node))
    return [{"sql": sql, "visits": n.visits, "q": n.q if n.visits else None, "reward": n.reward,
             "path_reward": best_path.get(sql), "intuition": n.intuition, "goal": n.goal,
             "complete": n.complete, "rm_score": n.rm_score} for sql, n in sorted(best.items())]


def annotate_execution(cand: dict, result) -> None:
    """The execution signal selectors may use (runs, returns rows, which result); never the gold."""
    cand["exec_status"] = "ok" if result.ok and result.rows else ("empty" if result.ok else result.error_kind)
    cand["exec_key"] = hashlib.sha1(repr(sorted(map(repr, result.rows))).encode()).hexdigest()[:12]


def choose_all(searches: list["Search"], executor, selector: str,
               reward_model=None) -> list[tuple[list[dict], dict | None]]:
    """Each search's candidates, annotated with their execution status (and reward-model score when a
    model is given), and the selector's choice among them: what mcts-explore and `sqlforge ask` report."""
    all_cands = [candidates(search) for search in searches]
    flat = [(search, cand) for search, cands in zip(searches, all_cands) for cand in cands]
    for (_, cand), result in zip(flat, executor.execute_many([(se.record["db_path"], c["sql"]) for se, c in flat])):
        annotate_execution(cand, result)
    unscored = [(se, cand) for se, cand in flat if cand["rm_score"] is None]
    if reward_model is not None and unscored:
        scores = reward_model.score([se.messages() for se, _ in unscored], [c["sql"] for _, c in unscored])
        for (_, cand), score in zip(unscored, scores):
            cand["rm_score"] = score
    return [(cands, choose(cands, selector)) for cands in all_cands]


def choose(cands: list[dict], selector: str) -> dict | None:
    """Pick one candidate without the gold.

    best_path (SQL-o1's own choice, `max_reward` output strategy, without its oracle): the terminal path
    with the highest mean reward among the paths the search visited; no execution filter, as there; when
    no terminal path was visited, no candidate (SQL-o1 answers an empty SQL).
    best_path_or_reward: the same, but when no terminal path was visited, the highest reward.
    The others take candidates whose SQL runs and returns rows first:
    best_reward: highest self-reward of the last node (for complete SQL dominated by log p(full SQL));
    most_visited: most MCTS visits; vote: the execution result most candidates share (by visits);
    reward_model: the reward model's highest score.
    """
    if not cands:
        return None
    if selector in ("best_path", "best_path_or_reward"):
        visited = [c for c in cands if c.get("path_reward") is not None]
        if visited:
            return max(visited, key=lambda c: (c["path_reward"], c["visits"]))
        if selector == "best_path":
            return None  # SQL-o1's result_mcts_best is '' when _dfs_max_reward finds no visited terminal path
        return max(cands, key=lambda c: (c["reward"], c["visits"]))
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
