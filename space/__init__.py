"""The leaderboard Space: a Gradio app over a leaderboard folder (`python -m space.app --results DIR`).

`space.board` (the numbers) and `space.submission` (what a submitted file must satisfy) are plain Python;
only `space.app`'s `build_app`/`main` import gradio, and only when called, so importing the suite (or this
package) never imports gradio. Install the app's extra with `pip install -e ".[space]"`.
"""
