"""Contributors: listing, inviting, changing roles and removing, with the last-owner guard."""

from __future__ import annotations

from sqlalchemy import func, select

from legacy_core.models import ProjectMember


def test_owner_invites_contributor_who_then_sees_the_project(api):
    owner, guest = api.user(), api.user()
    project_id = api.project(owner)
    response = owner.post(f"/api/projects/{project_id}/shares", json={"email": guest.user["email"], "role": "editor"})
    assert response.status_code == 201
    member = response.get_json()["member"]
    assert member["id"].startswith("m_")
    assert (member["userId"], member["role"]) == (guest.user["id"], "editor")
    assert guest.get(f"/api/projects/{project_id}").get_json()["project"]["role"] == "editor"
    members = owner.get(f"/api/projects/{project_id}/shares").get_json()["members"]
    assert [m["role"] for m in members] == ["owner", "editor"]


def test_invite_errors(api, server):
    owner, guest = api.user(), api.user()
    project_id = api.project(owner)
    url = f"/api/projects/{project_id}/shares"
    assert owner.post(url, json={"email": "ghost@example.test"}).get_json() == {"error": "User not found"}
    assert owner.post(url, json={"email": guest.user["email"], "role": "king"}).status_code == 400
    assert owner.post(url, json={"email": guest.user["email"]}).status_code == 201
    again = owner.post(url, json={"email": guest.user["email"]})
    assert again.status_code == 409
    assert guest.post(url, json={"email": owner.user["email"]}).status_code == 403
    with server.services.session_factory() as db:
        assert db.scalar(select(func.count()).select_from(ProjectMember)) == 2


def test_viewer_can_list_but_not_change_shares(api):
    owner, viewer = api.user(), api.user()
    project_id = api.project(owner)
    member_id = api.share(owner, project_id, viewer, "viewer")
    assert viewer.get(f"/api/projects/{project_id}/shares").status_code == 200
    assert viewer.patch(f"/api/projects/{project_id}/shares/{member_id}", json={"role": "owner"}).status_code == 403
    assert viewer.delete(f"/api/projects/{project_id}/shares/{member_id}").status_code == 403


def test_role_change_and_removal(api):
    owner, guest = api.user(), api.user()
    project_id = api.project(owner)
    member_id = api.share(owner, project_id, guest, "viewer")
    response = owner.patch(f"/api/projects/{project_id}/shares/{member_id}", json={"role": "owner"})
    assert response.status_code == 200
    assert response.get_json()["member"]["role"] == "owner"
    # the promoted owner may now manage shares
    assert guest.get(f"/api/projects/{project_id}/shares").status_code == 200
    assert owner.patch(f"/api/projects/{project_id}/shares/{member_id}", json={"role": "bad"}).status_code == 400
    assert owner.delete(f"/api/projects/{project_id}/shares/{member_id}").status_code == 204
    assert guest.get(f"/api/projects/{project_id}").status_code == 403


def test_last_owner_cannot_be_demoted_or_removed(api):
    owner = api.user()
    project_id = api.project(owner)
    own_id = owner.get(f"/api/projects/{project_id}/shares").get_json()["members"][0]["id"]
    demote = owner.patch(f"/api/projects/{project_id}/shares/{own_id}", json={"role": "editor"})
    assert demote.status_code == 409
    assert owner.delete(f"/api/projects/{project_id}/shares/{own_id}").status_code == 409
    assert owner.get(f"/api/projects/{project_id}/shares").get_json()["members"][0]["role"] == "owner"


def test_unknown_member_and_member_of_other_project_are_404(api):
    owner, guest = api.user(), api.user()
    first, second = api.project(owner, name="A"), api.project(owner, name="B")
    member_id = api.share(owner, first, guest, "viewer")
    assert owner.patch(f"/api/projects/{first}/shares/m_nope", json={"role": "editor"}).status_code == 404
    response = owner.delete(f"/api/projects/{second}/shares/{member_id}")
    assert response.status_code == 404
    assert response.get_json() == {"error": "Contributor not found"}
